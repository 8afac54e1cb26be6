// The appointments panel (到店预约) in the chat sidebar: the customer's upcoming appointments at my store; 发送预约链接
// puts her booking page's card in the chat (sendChatMessage, news); 代客预约 books a free slot with her open holds
// at my store attached (a retry reuses the request id, so one booking is made).
(function () {
  "use strict";
  var card = document.getElementById("appointments-card");
  if (!card) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var customerId = null;

  function sidebar() { return window.OmniSidebar; }
  function say(text) { $("appt-status").textContent = text; }
  function hhmm(iso) { return iso.slice(5, 10).replace("-", "月") + "日 " + iso.slice(11, 16); }

  function render(body) {
    var el = sidebar().el, list = $("appt-list");
    list.classList.remove("skeleton");
    list.textContent = "";
    $("appt-count").textContent = body.appointments.length ? "（" + body.appointments.length + "）" : "";
    if (!body.appointments.length) { list.appendChild(el("p", { "class": "muted", text: "暂无预约" })); }
    body.appointments.forEach(function (a) {
      var cancel = el("button", { "class": "ghost small", text: "取消" });
      cancel.addEventListener("click", function () {
        say("取消中…");
        sidebar().post("/api/v1/sidebar/appointments/" + a.id + "/status/", { status: "cancelled" }).then(function () {
          return load();
        }).then(function () { say("已取消 " + hhmm(a.starts_at) + " 的预约"); }, function (e) { say(e.message); });
      });
      list.appendChild(el("div", { "class": "appt", "data-appointment": String(a.id) }, [
        el("div", { text: hhmm(a.starts_at) + " " + a.kind_label + " · " + a.status_label + " " }, [cancel]),
        el("div", { "class": "sub", text: (a.associate ? a.associate + "接待" : "") + (a.items.length ? " · 试穿：" + a.items.join("、") : "") })
      ]));
    });
    var select = $("appt-slot");
    select.textContent = "";
    body.slots.forEach(function (s) {
      var option = el("option", { value: s.template_id + "|" + s.starts_at,
        text: hhmm(s.starts_at) + " " + s.kind_label + (s.associate ? " · " + s.associate : "") + "（余" + s.remaining + "）" });
      select.appendChild(option);
    });
    var holds = $("appt-holds");
    holds.textContent = "";
    body.holds.forEach(function (h) {
      var box = el("input", { type: "checkbox", value: String(h.id) });
      box.checked = true;
      holds.appendChild(el("label", { "class": "hold" }, [box, el("span", { text: "带上预留：" + h.items.join("、") })]));
    });
    $("appt-book").hidden = !body.slots.length;
  }

  function load() {
    return sidebar().get(sidebar().api + customerId + "/appointments/").then(render, function (e) { say(e.message); });
  }

  $("appt-send-link").addEventListener("click", function () {
    say("发送中…");
    sidebar().post(sidebar().api + customerId + "/appointments/link/", {}).then(function (body) {
      return OmniWeCom.sendChatMessage({ msgtype: "news", enterChat: true, news: body.card });
    }).then(function () { say("已发送预约链接"); }, function (e) { say(e.message); });
  });

  var book = $("appt-book-button");
  book.addEventListener("click", function () {
    var choice = $("appt-slot").value.split("|");
    var id = book.dataset.requestId || (book.dataset.requestId = sidebar().requestId());
    var holds = Array.prototype.map.call(card.querySelectorAll("#appt-holds input:checked"), function (i) { return Number(i.value); });
    say("预约中…");
    sidebar().post(sidebar().api + customerId + "/appointments/", {
      template_id: Number(choice[0]), starts_at: choice[1], request_id: id, pickup_ids: holds
    }).then(function (a) {
      delete book.dataset.requestId;
      return load().then(function () { say("已预约 " + hhmm(a.starts_at) + " " + a.kind_label); });
    }, function (e) { delete book.dataset.requestId; say(e.message); });
  });

  function start(id) {
    if (!id || id === customerId) { return; }
    customerId = id;
    load();
  }
  document.addEventListener("omni:customer", function (event) { start(event.detail.customerId); });
  if (window.OmniSidebar && window.OmniSidebar.customerId) { start(window.OmniSidebar.customerId); }
})();
