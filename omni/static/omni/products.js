/* The sidebar's product panel: search the catalogue (or scan a barcode with WeCom's camera), open a product with its
   sizes and stock here and nearby, send it to the customer as a card (recorded for attribution), find add-ons.
   Self-contained: it fetches nothing until the associate searches or scans. */
(function () {
  "use strict";
  var started = false;
  var $ = function (id) { return document.getElementById(id); };

  function start() {
    if (started || !window.OmniSidebar) { return; }
    started = true;
    var S = window.OmniSidebar, el = S.el, money = S.money;
    var app = $("app"), form = $("products-form"), results = $("products-results"), detail = $("product-detail");
    var status = $("products-status"), more = $("products-more"), lastQuery = null, page = 1;

    function say(text) { status.textContent = text || ""; }
    function query(extra) {
      var params = new URLSearchParams();
      var fields = form.elements;
      ["q", "category", "price_min", "price_max"].forEach(function (name) {
        var value = (fields[name].value || "").trim();
        if (value) { params.set(name, value); }
      });
      if (fields.in_stock.checked) { params.set("in_stock", "true"); }
      Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
      return params;
    }
    function search(params, append) {
      say("搜索中…");
      return S.get("/api/v1/sidebar/products/?" + params.toString()).then(function (body) {
        lastQuery = params; page = body.page;
        render(body, append);
        return body;
      }).catch(function (e) { say(e.message); throw e; });
    }
    function stockText(v) {
      var parts = [v.store_stock > 0 ? "本店 " + v.store_stock + " 件" : "本店无货"];
      if (v.online_stock > 0) { parts.push("线上有货"); }
      return parts.join(" · ");
    }
    function render(body, append) {
      if (!append) { results.textContent = ""; detail.hidden = true; }
      say(body.results.length || append ? "" : "没有找到符合条件的商品");
      body.results.forEach(function (r) {
        var thumb = r.image_url ? el("img", { "class": "thumb", src: r.image_url, alt: "" }) : el("div", { "class": "thumb", text: "无图" });
        var here = r.variants.reduce(function (n, v) { return n + v.store_stock; }, 0);
        var sizes = r.variants.map(function (v) { return v.size; }).filter(Boolean).join(" / ");
        var row = el("div", { "class": "pick", "data-sku": r.sku }, [thumb, el("div", { "class": "body" }, [
          el("div", { "class": "title", text: r.name }),
          el("div", { "class": "why", text: [money(r.price), sizes].filter(Boolean).join(" · ") }),
          el("div", { "class": "stock", text: here > 0 ? "本店 " + here + " 件" : "本店无货" })
        ])]);
        row.addEventListener("click", function () { open(r, r.sku, body.store); });
        results.appendChild(row);
      });
      more.hidden = !body.has_more;
    }
    // A product card: a mini-program card when the brand has one configured, else a news card to /p/<sku>/.
    function productMessage(v, image, desc) {
      var sku = encodeURIComponent(v.sku);
      if (app.dataset.mpAppid) {
        return { msgtype: "miniprogram", enterChat: true, miniprogram: { appid: app.dataset.mpAppid, title: v.name,
          imgUrl: image, page: app.dataset.mpPage.replace("{sku}", sku) } };
      }
      return { msgtype: "news", enterChat: true, news: { link: app.dataset.productUrl.replace("{sku}", sku),
        title: v.name, desc: desc, imgUrl: image } };
    }
    // The record first (it is where an opted-out customer or a spent contact budget is refused), then the card; a
    // retry reuses the request id, so one send is recorded (and charged) once.
    function sendButton(label, message, sku, source, reason) {
      var send = el("button", { text: label });
      send.addEventListener("click", function (event) {
        event.stopPropagation();
        if (!S.customerId) { say("请先在聊天中打开客户"); return; }
        var id = send.dataset.requestId || (send.dataset.requestId = S.requestId());
        send.disabled = true; send.textContent = "发送中";
        S.post(S.api + S.customerId + "/outreach/", { sku: sku(), source: source, reason: reason(), request_id: id }).then(function () {
          return OmniWeCom.sendChatMessage(message());
        }).then(function () { send.textContent = "已发送"; say(""); }).catch(function (e) {
          send.disabled = false; send.textContent = "重试"; say(e.message);
        });
      });
      return send;
    }
    function open(r, sku, store) {
      var chosen = r.variants.filter(function (v) { return v.sku === sku; })[0] || r.variants[0];
      detail.textContent = ""; detail.hidden = false; detail.dataset.sku = chosen.sku;
      var photo = r.image_url ? el("img", { "class": "photo", src: r.image_url, alt: r.name }) : null;
      var title = el("div", { "class": "title" }), price = el("div", { "class": "price" });
      var stock = el("div", { "class": "stock" }), nearby = el("div", { "class": "nearby" });
      var chips = el("div", { "class": "variants" });
      function show(v) {
        chosen = v; detail.dataset.sku = v.sku;
        title.textContent = v.name; price.textContent = money(v.price);
        stock.textContent = v.sku + " · " + stockText(v);
        nearby.textContent = v.nearby_stock.length
          ? "附近门店：" + v.nearby_stock.map(function (n) { return n.store + " " + n.quantity + " 件"; }).join("，")
          : "附近门店暂无库存";
        Array.prototype.forEach.call(chips.children, function (c) { c.classList.toggle("on", c.dataset.sku === v.sku); });
      }
      r.variants.forEach(function (v) {
        var chip = el("button", { type: "button", "class": "variant" + (v.store_stock > 0 ? "" : " out"), "data-sku": v.sku,
          text: (v.size || v.name) + (v.store_stock > 0 ? " · " + v.store_stock : "") });
        chip.addEventListener("click", function () { show(v); });
        chips.appendChild(chip);
      });
      var send = sendButton("发给客户", function () {
        return productMessage(chosen, r.image_url, money(chosen.price) + (chosen.size ? " · " + chosen.size + " 码" : "") + " · " + store.name);
      }, function () { return chosen.sku; }, "manual", function () { return "商品搜索"; });
      send.id = "product-send";
      var addons = el("button", { type: "button", "class": "ghost", id: "product-addons", text: "找搭配" });
      addons.addEventListener("click", function () { findAddons(chosen.sku); });
      [photo, title, price, chips, stock, nearby, el("div", { "class": "actions" }, [send, addons])].forEach(function (n) {
        if (n) { detail.appendChild(n); }
      });
      show(chosen);
      detail.scrollIntoView({ block: "nearest" });
    }
    function findAddons(sku) {
      var box = $("products-addons");
      box.textContent = "正在找搭配…";
      S.get("/api/v1/sidebar/addons/?sku=" + encodeURIComponent(sku)).then(function (body) {
        box.textContent = "";
        box.appendChild(el("h3", { text: "适合搭配" }));
        if (!body.suggestions.length) { box.appendChild(el("div", { "class": "empty", text: "暂无可推荐的搭配" })); }
        body.suggestions.forEach(function (s) {
          var thumb = s.image_url ? el("img", { "class": "thumb", src: s.image_url, alt: "" }) : el("div", { "class": "thumb", text: "无图" });
          var send = sendButton("发送", function () {
            return productMessage(s, s.image_url, money(s.price) + " · " + s.reason_text);
          }, function () { return s.sku; }, "addon", function () { return s.reason_text; });
          box.appendChild(el("div", { "class": "pick", "data-sku": s.sku }, [thumb, el("div", { "class": "body" }, [
            el("div", { "class": "title", text: s.name }),
            el("div", { "class": "why", text: s.reason_text }),
            el("div", { "class": "stock", text: money(s.price) + " · " + (s.store_stock > 0 ? "门店 " + s.store_stock + " 件" : "门店无货") })
          ]), send]));
        });
      }).catch(function (e) { box.textContent = e.message; });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      search(query(), false).catch(function () {});
    });
    more.addEventListener("click", function () {
      var params = new URLSearchParams(lastQuery);
      params.set("page", String(page + 1));
      search(params, true).catch(function () {});
    });
    // A scan answers "EAN_13,6901234567890" (a barcode) or a QR code's text; the product opens when one is found.
    $("products-scan").addEventListener("click", function () {
      OmniWeCom.scanQRCode(["barCode", "qrCode"]).then(function (resultStr) {
        var code = String(resultStr || "").split(",").pop().trim();
        var link = code.match(/\/p\/([^/?#]+)\/?/);
        var params = link ? new URLSearchParams({ q: decodeURIComponent(link[1]) }) : new URLSearchParams({ barcode: code });
        return search(params, false).then(function (body) {
          if (!body.results.length) { say("没有找到条码 " + code + " 对应的商品"); return; }
          var r = body.results[0];
          var hit = link ? r.sku : (r.variants.filter(function (v) { return v.barcode === code; })[0] || r).sku;
          open(r, hit, body.store);
        });
      }).catch(function (e) { say(e.message); });
    });
  }

  if (window.OmniSidebar && window.OmniSidebar.customerId) { start(); }
  document.addEventListener("omni:customer", start);
  // Search works before the chat's customer is known: start on first use as well.
  document.addEventListener("focusin", function (event) {
    if (event.target.closest && event.target.closest("#products-card")) { start(); }
  });
})();
