/* The sidebar's corp tag picker: the tag groups the associate's store may use, the customer's tags lit; a tap on a
   tag adds it (a lit one: removes it) through /tag-picker/, which writes WeCom (mark_tag) and Omni, and answers the
   picker again. Starts once the chat's customer is known (omni:customer, or at once if already known). */
(function () {
  "use strict";
  var S = window.OmniSidebar, customerId = null, busy = false;
  var $ = function (id) { return document.getElementById(id); };

  function url() { return S.api + customerId + "/tag-picker/"; }
  function showError(e) { $("tag-picker-error").textContent = e ? e.message || String(e) : ""; }

  function render(body) {
    var box = $("tag-picker"); box.textContent = ""; box.classList.remove("skeleton");
    if (!body.groups.length) { box.appendChild(S.el("div", { "class": "empty", text: "还没有可用的企业标签" })); }
    body.groups.forEach(function (g) {
      var name = S.el("div", { "class": "tp-group-name", text: g.name });
      if (g.store_only) { name.appendChild(S.el("span", { "class": "tp-store", text: "本店" })); }
      var group = S.el("div", { "class": "tp-group", "data-group": String(g.id) }, [name]);
      g.tags.forEach(function (t) {
        var button = S.el("button", { type: "button", "class": "tp-tag" + (t.on ? " on" : ""), "data-tag": String(t.id),
          "data-on": t.on ? "1" : "0", text: t.name });
        button.addEventListener("click", function () { toggle(t); });
        group.appendChild(button);
      });
      box.appendChild(group);
    });
    var on = 0;
    body.groups.forEach(function (g) { g.tags.forEach(function (t) { if (t.on) { on += 1; } }); });
    $("tag-picker-status").textContent = on ? "已打 " + on + " 个" : "";
  }

  function toggle(tag) {
    if (busy) { return; }
    busy = true; showError(null);
    $("tag-picker-status").textContent = "保存中…";
    S.post(url(), tag.on ? { remove: [tag.id] } : { add: [tag.id] }).then(render).catch(function (e) {
      showError(e); return load();
    }).then(function () { busy = false; });
  }

  function load() { return S.get(url()).then(render).catch(showError); }

  function start(id) {
    if (!id || id === customerId) { return; }
    customerId = id; load();
  }

  document.addEventListener("omni:customer", function (event) { start(event.detail && event.detail.customerId); });
  if (S && S.customerId) { start(S.customerId); }
})();
