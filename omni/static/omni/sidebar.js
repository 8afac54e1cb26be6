/* The chat sidebar: find the customer of the open chat (JS-SDK), then render their 360 from /api/v1/sidebar/.
   First screen first: one call (first-screen/) answers who the contact is, her profile, her last purchases and open
   coupons; only once they are drawn does anything else (suggestions, packs, community, tasks, other panels) ask. */
(function () {
  "use strict";
  var app = document.getElementById("app");
  var api = app.dataset.api, customerId = null, contactAvatar = "", page = 1;
  var csrf = (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); } });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function get(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) { throw new Error((body.error && body.error.message) || r.status); } return body; });
    });
  }
  function post(url, data) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(data),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf } })
      .then(function (r) { return r.json().then(function (body) { if (!r.ok) { throw new Error((body.error && body.error.message) || r.status); } return body; }); });
  }
  // One formatter, made (and its locale data loaded) while the page waits for WeCom, not when the first screen draws:
  // toLocaleString made a new one for every amount, which a slow phone's CPU felt.
  var moneyFormat = new Intl.NumberFormat("zh-CN", { minimumFractionDigits: 0, maximumFractionDigits: 2 });
  moneyFormat.format(1234.5);
  function money(v) { return "¥" + moneyFormat.format(Number(v)); }
  function day(iso) { return iso ? iso.slice(0, 10) : "—"; }
  function daysAgo(iso) { return iso ? Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 86400000)) + " 天前" : "—"; }

  // The initial stays under the photo, so a photo that fails to load leaves the initial.
  function renderAvatar(name, url) {
    var box = $("avatar"); box.textContent = (name || "客").slice(0, 1);
    if (!url) { return; }
    var img = el("img", { src: url, alt: "" });
    img.onerror = function () { img.remove(); };
    box.appendChild(img);
  }
  function renderWeCom(w, linked) {
    $("wecom-card").hidden = !w;
    if (!w) { return; }
    $("wecom-only").hidden = linked !== false;
    $("wecom-remark").textContent = w.remark || "—";
    $("wecom-followed").textContent = day(w.followed_at);
    $("wecom-add-way").textContent = w.add_way || "—";
    $("wecom-type").textContent = w.type || "—";
  }

  // The member's level and points, as the brand's loyalty system last sent them (the members API).
  function renderMembership(m) {
    var chips = $("chips"), expiring = $("points-expiring");
    if (m && m.level) { chips.appendChild(el("span", { "class": "chip member", text: "会员等级 " + m.level })); }
    if (m) { chips.appendChild(el("span", { "class": "chip member", text: "积分 " + m.points.toLocaleString("zh-CN") })); }
    expiring.hidden = !(m && m.points_expiring);
    expiring.textContent = expiring.hidden ? "" : m.points_expiring.toLocaleString("zh-CN") + " 积分将于 " + m.points_expire_on + " 过期";
  }
  function renderProfile(p) {
    var c = p.customer, f = p.figures;
    renderAvatar(c.name, c.avatar || contactAvatar);
    $("name").textContent = c.name || "未命名客户";
    $("meta").textContent = [c.primary_store, c.primary_associate && "专属导购 " + c.primary_associate,
      p.linked !== false && "会员自 " + day(c.member_since).slice(0, 7)].filter(Boolean).join(" · ");
    var chips = $("chips"); chips.textContent = "";
    if (p.linked === false) { chips.appendChild(el("span", { "class": "chip wecom", text: "仅企业微信信息" })); }
    // The brand's own level (the members API), when it sent one, stands in for Omni's spend tier.
    if (!(p.membership && p.membership.level)) { chips.appendChild(el("span", { "class": "chip tier", text: f.tier })); }
    chips.appendChild(el("span", { "class": "chip segment", text: f.segment }));
    renderMembership(p.membership);
    if (c.phone) { chips.appendChild(el("span", { "class": "chip", text: c.phone })); }
    if (c.opted_out) { chips.appendChild(el("span", { "class": "chip", text: "已退订营销" })); }
    var figures = $("figures"); figures.textContent = ""; figures.classList.remove("skeleton");
    [["累计消费", money(f.lifetime_spend)], ["订单数", f.orders + (f.returns ? "（退 " + f.returns + "）" : "")],
     ["客单价", money(f.average_order_value)], ["最近购买", daysAgo(f.last_purchase_at)],
     ["偏好品类", f.favourite_categories.join("、") || "—"],
     ["常穿尺码", (f.usual_sizes || []).map(function (s) { return s.family + " " + s.size; }).join(" · ") || "—"]]
      .forEach(function (pair) { figures.appendChild(el("div", { "class": "figure" }, [el("b", { text: pair[1] }), el("span", { text: pair[0] })])); });
    var ids = $("identities"); ids.textContent = "";
    p.identities.forEach(function (i) { ids.appendChild(el("div", {}, [el("span", { text: i.label }), document.createTextNode(i.value)])); });
    renderTags(p.tags); renderNotes(p.notes); renderWeCom(p.wecom, p.linked);
    $("link-card").hidden = p.linked;
  }
  function renderFirstScreen(body) {
    page = 1;
    renderProfile(body.profile);
    renderOrders(body.orders, false);
    renderCoupons({ coupons: body.coupons });
    if (body.coupons.length) { $("chips").appendChild(el("span", { "class": "chip coupon-chip", text: "可用券 " + body.coupons.length + " 张" })); }
  }
  // After the first screen: the rest of the page's own cards.
  function loadRest() { return Promise.all([loadSuggestions(), loadCoupons(), loadTasks(), loadCommunity()]); }
  // omni:customer fires once the page is parsed (this script is deferred, so it runs before DOMContentLoaded); the
  // panels' scripts are added after it and start from OmniSidebar.customerId.
  var parsed = new Promise(function (resolve) {
    if (document.readyState === "complete") { resolve(); return; }
    document.addEventListener("DOMContentLoaded", function () { resolve(); });
    window.addEventListener("load", function () { resolve(); });
  });
  function whenParsed(fn) { parsed.then(fn); }
  function requestId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, function () { return (Math.random() * 16 | 0).toString(16); });
  }
  // A product goes to the chat as a mini-program card when the brand has one configured, else as a news card.
  function productMessage(s) {
    var link = app.dataset.productUrl.replace("{sku}", encodeURIComponent(s.sku));
    if (app.dataset.mpAppid) {
      return { msgtype: "miniprogram", enterChat: true, miniprogram: { appid: app.dataset.mpAppid, title: s.name,
        imgUrl: s.image_url, page: app.dataset.mpPage.replace("{sku}", encodeURIComponent(s.sku)) } };
    }
    return { msgtype: "news", enterChat: true, news: { link: link, title: s.name, desc: money(s.price) + " · " + s.reason_text, imgUrl: s.image_url } };
  }
  function stockText(s) {
    var parts = [];
    if (s.store_stock > 0) { parts.push("门店 " + s.store_stock + " 件"); }
    if (s.online_stock > 0) { parts.push("线上有货"); }
    return parts.join(" · ") || "暂无库存";
  }
  function renderSuggestions(body, box, source) {
    box = box || $("suggestions"); source = source || "suggestion";
    box.textContent = ""; box.classList.remove("skeleton");
    if (!body.suggestions.length) { box.appendChild(el("div", { "class": "empty", text: "暂无可推荐的商品" })); }
    body.suggestions.forEach(function (s) {
      var thumb = s.image_url ? el("img", { "class": "thumb", src: s.image_url, alt: "" }) : el("div", { "class": "thumb", text: "无图" });
      var send = el("button", { text: "发送" });
      send.addEventListener("click", function () {
        var id = send.dataset.requestId || (send.dataset.requestId = requestId());
        send.disabled = true; send.textContent = "发送中";
        // The record first: it is where an opted-out customer or a spent contact budget is refused.
        post(api + customerId + "/outreach/", { sku: s.sku, source: source, reason: s.reason_text, request_id: id }).then(function () {
          return OmniWeCom.sendChatMessage(productMessage(s));
        }).then(function () { send.textContent = "已发送"; }).catch(function (e) {
          send.disabled = false; send.textContent = "重试"; $("error").textContent = e.message;
        });
      });
      box.appendChild(el("div", { "class": "pick", "data-sku": s.sku }, [thumb, el("div", { "class": "body" }, [
        el("div", { "class": "title", text: s.name }),
        el("div", { "class": "why", text: s.reason_text }),
        el("div", { "class": "stock", text: money(s.price) + " · " + stockText(s) })
      ]), send]));
    });
  }
  function loadSuggestions() {
    return get(api + customerId + "/suggestions/").then(function (body) { renderSuggestions(body); }).catch(function () {
      var box = $("suggestions"); box.classList.remove("skeleton"); box.textContent = "推荐暂时不可用";
    });
  }
  function renderPacks(body) {
    var box = $("packs");
    box.textContent = ""; box.classList.remove("skeleton");
    if (!body.packs.length) { box.appendChild(el("div", { "class": "empty", text: "暂无可发送的券包" })); }
    body.packs.forEach(function (p) {
      var send = el("button", { text: p.blocked ? "不可发" : "发送" });
      send.disabled = !!p.blocked;
      // Issue first, then put the card in the chat; a retry reuses the request number, so nothing is issued twice.
      send.addEventListener("click", function () {
        var id = send.dataset.requestId || (send.dataset.requestId = requestId());
        send.disabled = true; send.textContent = "发送中";
        post(api + customerId + "/coupon-packs/" + p.id + "/send/", { request_no: id }).then(function (sent) {
          return OmniWeCom.sendChatMessage({ msgtype: "news", enterChat: true, news: sent.card });
        }).then(function () {
          send.textContent = "已发送"; $("error").textContent = ""; return loadCoupons(true);
        }).catch(function (e) {
          send.disabled = false; send.textContent = "重试"; $("error").textContent = e.message;
        });
      });
      var rules = p.items.map(function (i) { return i.rule_text + (i.quantity > 1 ? " ×" + i.quantity : ""); }).join(" · ");
      box.appendChild(el("div", { "class": "pick", "data-pack": String(p.id) }, [el("div", { "class": "body" }, [
        el("div", { "class": "title", text: p.name }),
        el("div", { "class": "why", text: rules }),
        el("div", { "class": "stock", text: p.blocked ? p.blocked_text : "今日已发 " + p.sent_today + " / " + p.daily_quota + " 份" })
      ]), send]));
    });
  }
  function renderCoupons(body) {
    var box = $("coupons");
    box.textContent = "";
    if (!body.coupons.length) { box.appendChild(el("div", { "class": "empty", text: "还没有优惠券" })); }
    body.coupons.forEach(function (c) {
      var when = c.status === "redeemed" ? "核销于 " + day(c.redeemed_at) : "有效期至 " + day(c.valid_until);
      box.appendChild(el("div", { "class": "coupon " + c.status, "data-coupon": String(c.id) }, [
        el("div", { "class": "rule", text: c.rule_text }),
        el("div", { "class": "body" }, [el("div", { text: c.name }), el("div", { "class": "muted", text: when + (c.sent_by ? " · " + c.sent_by + "发送" : "") })]),
        el("div", { "class": "state", text: c.status_label })
      ]));
    });
  }
  // After a send only the held coupons are redrawn: the packs keep their 已发送 state.
  function loadCoupons(couponsOnly) {
    return get(api + customerId + "/coupons/").then(function (body) {
      if (!couponsOnly) { renderPacks(body); }
      renderCoupons(body);
    }).catch(function (e) { var box = $("packs"); box.classList.remove("skeleton"); box.textContent = e.message; });
  }
  // The store community: in it (which group, since when) or not, and 邀请进群, which records the invite, then puts
  // the poster (uploaded media) in the chat. A media_id WeCom no longer keeps is uploaded again, same request id.
  function renderCommunity(body) {
    var box = $("community"), button = $("community-invite");
    box.textContent = ""; box.classList.remove("skeleton");
    $("community-name").textContent = body.community ? body.community.name : "";
    if (!body.community) { box.appendChild(el("div", { "class": "empty", text: "门店还没有社群" })); button.hidden = true; return; }
    box.dataset.state = body.in_community ? "member" : "outside";
    if (body.in_community) {
      body.memberships.forEach(function (m) {
        box.appendChild(el("div", { "class": "member", text: "已在群「" + m.chat + "」 · " + day(m.joined_at) + " 入群" + (m.invited_by ? " · " + m.invited_by + "邀请" : "") }));
      });
    } else {
      box.appendChild(el("div", { "class": "empty", text: "还不在门店社群" }));
    }
    body.invites.forEach(function (i) {
      box.appendChild(el("div", { "class": "muted invite " + i.status, text: day(i.sent_at) + " " + i.associate + "邀请 · " + i.status_label }));
    });
    button.hidden = body.in_community;
  }
  function loadCommunity() {
    return get(api + customerId + "/community/").then(renderCommunity).catch(function (e) {
      var box = $("community"); box.classList.remove("skeleton"); box.textContent = e.message;
    });
  }
  function sendInvite(id, refresh) {
    return post(api + customerId + "/community/invite/", { request_id: id, refresh_media: !!refresh }).then(function (sent) {
      return OmniWeCom.sendChatMessage({ msgtype: "image", enterChat: true, image: sent.image }).catch(function (e) {
        if (!refresh && /mediaid/.test(e.message)) { return sendInvite(id, true); }
        throw e;
      });
    });
  }
  $("community-invite").addEventListener("click", function () {
    var button = $("community-invite");
    var id = button.dataset.requestId || (button.dataset.requestId = requestId());
    button.disabled = true; button.textContent = "发送中";
    sendInvite(id, false).then(function () {
      button.textContent = "已发送邀请"; $("error").textContent = ""; return loadCommunity();
    }).catch(function (e) {
      button.disabled = false; button.textContent = "重试"; $("error").textContent = e.message;
    });
  });
  function renderTags(tags) {
    var box = $("tags"); box.textContent = "";
    if (!tags.length) { box.appendChild(el("span", { "class": "empty", text: "还没有标签" })); }
    tags.forEach(function (t) { box.appendChild(el("span", { "class": "chip", text: t })); });
  }
  function renderNotes(notes) {
    var box = $("notes"); box.textContent = "";
    if (!notes.length) { box.appendChild(el("div", { "class": "empty", text: "还没有备注" })); }
    notes.forEach(function (n) {
      box.appendChild(el("div", { "class": "note" }, [el("div", { text: n.text }), el("div", { "class": "muted", text: (n.author || "") + " · " + day(n.at) })]));
    });
  }
  function renderTasks(tasks) {
    var box = $("tasks"); box.textContent = "";
    if (!tasks.length) { box.appendChild(el("div", { "class": "empty", text: "没有待办" })); }
    tasks.forEach(function (t) {
      var row = el("div", { "class": "task" + (t.done ? " done" : ""), "data-task": String(t.id) }, [el("span", { text: t.title + " · " + t.due_on })]);
      if (!t.done) {
        var done = el("button", { text: "完成" });
        done.addEventListener("click", function () {
          post("/api/v1/sidebar/tasks/" + t.id + "/done/", {}).then(loadTasks).catch(function (e) { $("error").textContent = e.message; });
        });
        row.appendChild(done);
      }
      box.appendChild(row);
    });
  }
  function loadTasks() { return get(api + customerId + "/tasks/").then(renderTasks); }
  function renderOrders(body, append) {
    var box = $("orders"); box.classList.remove("skeleton");
    if (!append) { box.textContent = ""; }
    if (!append && !body.orders.length) { box.appendChild(el("div", { "class": "empty", text: "还没有购买记录" })); }
    body.orders.forEach(function (o) {
      var badges = [el("span", { "class": "badge ch-" + o.channel, text: o.channel_label })];
      if (o.status === "returned") { badges.push(el("span", { "class": "badge returned", text: "已退货" })); }
      // A return taken back at a till (negative lines against the original order), in whichever store.
      if (o.status !== "returned" && Number(o.total_amount) < 0) { badges.push(el("span", { "class": "badge returned", text: "退货" })); }
      if (o.fulfilment !== "in_store") { badges.push(el("span", { "class": "badge muted-badge", text: o.fulfilment_label })); }
      var lines = o.lines.map(function (l) { return l.name + (l.quantity < 0 ? " 退" + -l.quantity + "件" : l.quantity !== 1 ? " ×" + l.quantity : ""); }).join("，");
      box.appendChild(el("div", { "class": "order", "data-channel": o.channel }, [
        el("div", { "class": "top" }, [el("span", {}, badges.concat([document.createTextNode(o.store || "")])), el("b", { text: money(o.total_amount) })]),
        el("div", { "class": "lines", text: day(o.placed_at) + " · " + lines })
      ]));
    });
    $("more").hidden = !body.has_more;
  }
  function loadOrders(append) {
    return get(api + customerId + "/orders/?page=" + page).then(function (body) { renderOrders(body, append); });
  }

  // What the sidebar's panels share: the customer on screen and the page's request helpers.
  window.OmniSidebar = { customerId: null, api: api, get: get, post: post, el: el, money: money, day: day, requestId: requestId };

  // wecom.js is async: it may still be on its way when this (deferred) script runs.
  function weCom() {
    if (window.OmniWeCom) { return Promise.resolve(window.OmniWeCom); }
    return new Promise(function (resolve) {
      document.addEventListener("omni:wecom", function () { resolve(window.OmniWeCom); }, { once: true });
    });
  }
  weCom().then(function (wecom) { return wecom.currentExternalContact(); }).then(function (externalUserId) {
    return get(app.dataset.firstScreenUrl + "?external_userid=" + encodeURIComponent(externalUserId));
  }).then(function (body) {
    var contact = body.contact;
    customerId = contact.id; contactAvatar = contact.avatar || "";
    window.OmniSidebar.customerId = customerId;
    renderFirstScreen(body);
    return new Promise(function (resolve) {
      whenParsed(function () {
        // The sidebar's other panels (their own scripts) start from this event: the chat's customer is known and
        // the first screen is drawn.
        document.dispatchEvent(new CustomEvent("omni:customer", { detail: { customerId: customerId, externalUserId: contact.external_userid || "" } }));
        // Then the panels' scripts (each starts at once: OmniSidebar.customerId is set), after the first screen.
        Array.prototype.forEach.call(document.querySelectorAll("script[data-panel-src]"), function (tag) {
          var script = document.createElement("script"); script.src = tag.dataset.panelSrc; document.body.appendChild(script);
        });
        resolve(loadRest().catch(function (e) { $("error").textContent = e.message; }));
      });
    });
  }).catch(function (e) {
    $("name").textContent = "未识别的客户";
    $("error").textContent = e.message;
  });

  $("more").addEventListener("click", function () { page += 1; loadOrders(true); });
  $("tag-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = event.target.elements.name;
    post(api + customerId + "/tags/", { name: input.value }).then(function () {
      input.value = ""; return get(api + customerId + "/");
    }).then(function (p) { renderTags(p.tags); }).catch(function (e) { $("error").textContent = e.message; });
  });
  // A typed number is only a claim: the answer is the same whoever owns it, and the customer confirms it from the
  // card in their WeChat (or a manager approves it). A retry reuses the request id, so one claim is recorded.
  $("link-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target, fields = form.elements;
    var id = form.dataset.requestId || (form.dataset.requestId = requestId());
    post(api + customerId + "/link/", { phone: fields.phone.value, member_no: fields.member_no.value, request_id: id }).then(function (body) {
      if (!body.card) { return body; }
      return OmniWeCom.sendChatMessage({ msgtype: "news", enterChat: true, news: body.card }).then(function () { return body; });
    }).then(function (body) {
      delete form.dataset.requestId; form.reset();
      $("link-status").textContent = body.message; $("error").textContent = "";
    }).catch(function (e) { $("error").textContent = e.message; });
  });
  $("task-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target.elements;
    post(api + customerId + "/tasks/", { title: form.title.value, due_on: form.due_on.value }).then(function () {
      form.title.value = ""; return loadTasks();
    }).catch(function (e) { $("error").textContent = e.message; });
  });
  $("note-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = event.target.elements.text;
    post(api + customerId + "/notes/", { text: input.value }).then(function () {
      input.value = ""; return get(api + customerId + "/");
    }).then(function (p) { renderNotes(p.notes); }).catch(function (e) { $("error").textContent = e.message; });
  });
})();
