// The customer timeline (轨迹) in the chat sidebar: starts when the sidebar knows the customer (the omni:customer
// event, or at once when window.OmniSidebar.customerId is already set), and reads its first page only when the panel
// comes into view (a card scrolled to, or a tab opened); "加载更多" reads the next page by its cursor.
(function () {
  "use strict";
  var card = document.getElementById("timeline-card");
  if (!card) { return; }
  var list = document.getElementById("timeline"), more = document.getElementById("timeline-more");
  var customerId = null, next = null, loading = false, started = false, shown = 0, observer = null;

  // kind → [icon, colour]
  var KINDS = {
    purchase: ["购", "#07c160"], "return": ["退", "#f54a45"],
    coupon_sent: ["券", "#f5803e"], coupon_redeemed: ["用", "#d4380d"],
    community_invite: ["邀", "#1d6fd8"], community_join: ["入", "#2f54eb"], community_leave: ["离", "#8f959e"],
    product_sent: ["荐", "#7a5af8"], message: ["语", "#13a8a8"], library_sent: ["话", "#13a8a8"], campaign: ["群", "#0fa5a5"],
    note: ["记", "#646a73"], tag_added: ["签", "#c41d7f"],
    friend_added: ["友", "#06a050"], friend_deleted: ["删", "#8f959e"],
    task_created: ["任", "#faad14"], task_done: ["完", "#52c41a"]
  };

  function sidebar() { return window.OmniSidebar; }

  function detailText(e) {
    var money = sidebar().money;
    switch (e.kind) {
      case "purchase": case "return": return e.detail ? "单号 " + e.detail : "";
      case "coupon_redeemed": return (e.detail ? "订单 " + e.detail + " · " : "") + (e.amount ? "优惠 " + money(e.amount) : "");
      case "product_sent": return e.detail ? "推荐理由：" + e.detail : "";
      case "library_sent": return e.detail === "material" ? "素材" : "话术";
      case "tag_added": return e.detail ? "标签组：" + e.detail : "";
      case "friend_added": return e.detail ? "备注名：" + e.detail : "";
      case "task_created": case "task_done": return e.detail ? "截止 " + e.detail : "";
      default: return e.detail || "";
    }
  }

  // Local time as the API gives it (Asia/Shanghai): "12-07 14:30" this year, "2025-12-07 14:30" before.
  function when(iso) {
    var day = sidebar().day(iso), thisYear = String(new Date().getFullYear());
    return (day.slice(0, 4) === thisYear ? day.slice(5) : day) + " " + iso.slice(11, 16);
  }

  function amountText(e) {
    if (!e.amount || (e.kind !== "purchase" && e.kind !== "return")) { return ""; }
    return (e.kind === "return" ? "-" : "") + sidebar().money(e.amount);
  }

  function render(events) {
    var el = sidebar().el;
    var previous = list.querySelector(".tl-item.last");
    if (previous && events.length) { previous.classList.remove("last"); }
    events.forEach(function (e, i) {
      var look = KINDS[e.kind] || ["·", "#8f959e"];
      var icon = el("div", { "class": "tl-icon", text: look[0] });
      icon.style.background = look[1];
      var title = el("div", { "class": "tl-title" }, [el("b", { text: e.kind_label })]);
      if (e.title) { title.appendChild(document.createTextNode(" · " + e.title)); }
      if (e.channel_label) { title.appendChild(el("span", { "class": "tl-chip", text: e.channel_label })); }
      var top = el("div", { "class": "tl-top" }, [title]);
      var amount = amountText(e);
      if (amount) { top.appendChild(el("span", { "class": "tl-amount" + (e.kind === "return" ? " minus" : ""), text: amount })); }
      var body = el("div", { "class": "tl-body" }, [top]);
      var detail = detailText(e);
      if (detail) { body.appendChild(el("div", { "class": "tl-detail", text: detail })); }
      var meta = when(e.at) + (e.associate ? " · 导购 " + e.associate : "");
      body.appendChild(el("div", { "class": "tl-meta", text: meta }));
      var item = el("div", { "class": "tl-item", "data-kind": e.kind }, [icon, body]);
      if (i === events.length - 1) { item.classList.add("last"); }
      list.appendChild(item);
    });
    shown += events.length;
  }

  function load() {
    if (loading || customerId === null) { return; }
    loading = true;
    more.disabled = true;
    var url = sidebar().api + customerId + "/timeline/" + (next ? "?after=" + encodeURIComponent(next) : "");
    sidebar().get(url).then(function (body) {
      if (!started) { list.textContent = ""; list.classList.remove("skeleton"); started = true; }
      render(body.events);
      next = body.next;
      if (!shown) { list.appendChild(sidebar().el("div", { "class": "empty", text: "还没有轨迹" })); }
      more.hidden = !next;
    }).catch(function (e) {
      list.classList.remove("skeleton");
      list.appendChild(sidebar().el("div", { "class": "empty", text: "轨迹加载失败：" + e.message }));
    }).then(function () { loading = false; more.disabled = false; });
  }

  // The first page waits until the panel is on screen: the sidebar's first paint reads nothing for it.
  function whenVisible() {
    if (!("IntersectionObserver" in window)) { load(); return; }
    observer = new IntersectionObserver(function (entries) {
      if (entries.some(function (entry) { return entry.isIntersecting; })) {
        observer.disconnect();
        load();
      }
    }, { rootMargin: "200px" });
    observer.observe(card);
  }

  function start(id) {
    if (id === null || id === undefined || id === customerId) { return; }
    if (observer) { observer.disconnect(); }
    customerId = id; next = null; started = false; shown = 0; more.hidden = true;
    list.textContent = "加载中…";
    list.classList.add("skeleton");
    whenVisible();
  }

  more.addEventListener("click", load);
  document.addEventListener("omni:customer", function (event) { start(event.detail.customerId); });
  if (window.OmniSidebar && window.OmniSidebar.customerId) { start(window.OmniSidebar.customerId); }
})();
