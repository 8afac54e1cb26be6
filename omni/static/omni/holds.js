/* Holds (预留): when the product panel opens a product, the style's sizes/colours with the units available at each
   store (own store first, then nearest) and "为客户预留" per store; a hold sends the customer's pickup card to the chat
   (sendChatMessage, a news link to /h/<token>/). Below, the customer's holds, with cancel and resend. */
(function () {
  "use strict";
  var started = false;
  var $ = function (id) { return document.getElementById(id); };

  function start() {
    if (started || !window.OmniSidebar) { return; }
    started = true;
    var S = window.OmniSidebar, el = S.el;
    var detail = $("product-detail"), list = $("holds"), status = $("holds-status"), count = $("holds-count");
    var shownFor = null, box = null;

    function say(text) { status.textContent = text || ""; }
    function label(v) { return [v.colour, v.size].filter(Boolean).join(" ") || v.sku; }
    function when(iso) { return iso ? iso.slice(5, 10).replace("-", "月") + "日 " + iso.slice(11, 16) : ""; }

    function sendCard(hold) {
      return OmniWeCom.sendChatMessage({ msgtype: "news", enterChat: true, news: hold.card });
    }

    function renderStores(body, sku) {
      box.textContent = "";
      box.appendChild(el("h3", { text: "各门店库存 · 为客户预留" }));
      var chosen = body.variants.filter(function (v) { return v.sku === sku; })[0] || body.variants[0];
      body.stores.forEach(function (s) {
        var here = s.stock.filter(function (x) { return x.sku === chosen.sku; })[0] || { available: 0 };
        var head = el("div", { "class": "store-head" }, [el("b", { text: s.name })]);
        if (s.is_own) { head.appendChild(el("span", { "class": "own", text: "本店" })); }
        if (s.distance_km !== null && !s.is_own) { head.appendChild(el("span", { "class": "km", text: s.distance_km + " km" })); }
        else if (!s.is_own && s.city) { head.appendChild(el("span", { "class": "km", text: s.city })); }
        var sizes = el("div", { "class": "sizes" }, s.stock.map(function (x) {
          var v = body.variants.filter(function (y) { return y.sku === x.sku; })[0];
          return el("span", { "class": "size" + (x.sku === chosen.sku ? " on" : "") + (x.available > 0 ? "" : " none"),
            text: label(v) + (x.available > 0 ? " · " + x.available : "") });
        }));
        var note = here.available > 0 ? label(chosen) + " 可预留 " + here.available + " 件 · 保留 " + s.hold_hours + " 小时"
          : label(chosen) + (s.is_own ? " 本店已售罄" : " 无货");
        var row = el("div", { "class": "row" }, [el("span", { "class": "muted", text: note })]);
        if (here.available > 0) {
          var hold = el("button", { type: "button", "class": "hold", "data-store": s.code, text: "为客户预留" });
          hold.addEventListener("click", function () { place(hold, s, chosen); });
          row.appendChild(hold);
        }
        box.appendChild(el("div", { "class": "store", "data-store": s.code }, [head, sizes, row]));
      });
    }

    function place(button, store, variant) {
      if (!S.customerId) { say("请先在聊天中打开客户"); return; }
      var id = button.dataset.requestId || (button.dataset.requestId = S.requestId());
      button.disabled = true; button.textContent = "预留中";
      S.post(S.api + S.customerId + "/holds/", { sku: variant.sku, store: store.code, request_id: id }).then(function (body) {
        button.textContent = "发送取货卡";
        return sendCard(body.hold).then(function () {
          button.textContent = "已预留 · 已发送";
          say("已在" + store.name + "预留 " + label(variant) + "，取货码 " + body.hold.code);
          load();
        });
      }).catch(function (e) { button.disabled = false; button.textContent = "重试"; say(e.message); });
    }

    function show(force) {
      var sku = detail.dataset.sku;
      if (detail.hidden || !sku) { return; }
      if (!force && sku === shownFor && box && box.parentNode === detail) { return; }
      shownFor = sku;
      if (!box || box.parentNode !== detail) { box = el("div", { id: "hold-stores" }); detail.appendChild(box); }
      box.textContent = "正在查各门店库存…";
      S.get("/api/v1/sidebar/products/" + encodeURIComponent(sku) + "/availability/").then(function (body) {
        if (detail.dataset.sku === sku) { renderStores(body, sku); }
      }).catch(function (e) { box.textContent = e.message; });
    }

    function renderHolds(holds) {
      list.textContent = ""; list.classList.remove("muted");
      var open = holds.filter(function (h) { return h.is_open; }).length;
      count.textContent = open ? open + " 件待取" : "";
      if (!holds.length) { list.classList.add("muted"); list.textContent = "暂无预留。在上方商品里选尺码，可为客户预留到任一门店"; return; }
      holds.forEach(function (h) {
        var line = h.lines[0] || {};
        var item = el("div", { "class": "hold-item" + (h.is_open ? "" : " closed"), "data-code": h.code }, [
          el("div", { "class": "hold-top" }, [el("b", { text: line.name || "商品" }), el("span", { "class": "status", text: h.status_label })]),
          el("div", { "class": "muted", text: [label(line), h.store.name, "取货码 " + h.code, "保留至 " + when(h.expires_at)].join(" · ") })
        ]);
        if (h.is_open && h.kind === "hold") {
          var resend = el("button", { type: "button", "class": "ghost", text: "发送取货卡" });
          resend.addEventListener("click", function () {
            sendCard(h).then(function () { resend.textContent = "已发送"; }).catch(function (e) { say(e.message); });
          });
          var cancel = el("button", { type: "button", "class": "ghost", text: "取消预留" });
          cancel.addEventListener("click", function () {
            cancel.disabled = true;
            S.post("/api/v1/sidebar/holds/" + h.id + "/cancel/", {}).then(function () { load(); show(true); })
              .catch(function (e) { cancel.disabled = false; say(e.message); });
          });
          item.appendChild(el("div", { "class": "hold-actions" }, [resend, cancel]));
        }
        list.appendChild(item);
      });
    }

    function load() {
      if (!S.customerId) { return; }
      S.get(S.api + S.customerId + "/holds/").then(function (body) { renderHolds(body.holds); })
        .catch(function (e) { say(e.message); });
    }

    // The product panel (products.js) redraws #product-detail and sets data-sku on each size chosen.
    new MutationObserver(function () { show(false); }).observe(detail, { attributes: true, attributeFilter: ["data-sku", "hidden"], childList: true });
    document.addEventListener("omni:customer", load);
    load(); show(false);
  }

  if (window.OmniSidebar && window.OmniSidebar.customerId) { start(); }
  document.addEventListener("omni:customer", start);
  document.addEventListener("focusin", function (event) {
    if (event.target.closest && event.target.closest("#products-card")) { start(); }
  });
})();
