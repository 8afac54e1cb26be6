/* The sidebar's quick replies (话术) and materials (素材): starts once the chat's customer is known (the
   omni:customer event, or at once if the sidebar already knows them), searches, and sends with one tap: the server
   records the send and answers the sendChatMessage argument (a reply filled for this customer), which goes to the
   chat. An image or file whose media_id WeCom no longer keeps is uploaded again and sent, same request id. */
(function () {
  "use strict";
  var S = window.OmniSidebar, customerId = null, tab = "replies", started = false, searchTimer = null;
  var $ = function (id) { return document.getElementById(id); };
  var base = "/api/v1/sidebar/";

  function el(tag, attrs, children) { return S.el(tag, attrs, children); }
  function showError(e) { $("library-error").textContent = e ? e.message || String(e) : ""; }
  function keyword() { return $("library-search").elements.q.value.trim(); }

  function sendButton(label, send) {
    var button = el("button", { type: "button", text: label });
    button.addEventListener("click", function () {
      var id = button.dataset.requestId || (button.dataset.requestId = S.requestId());
      button.disabled = true; button.textContent = "发送中";
      send(id).then(function () {
        button.textContent = "已发送"; showError(null);
        // The next tap is a new message.
        setTimeout(function () { delete button.dataset.requestId; button.disabled = false; button.textContent = label; }, 1500);
      }).catch(function (e) { button.disabled = false; button.textContent = "重试"; showError(e); });
    });
    return button;
  }

  function renderReplies(body) {
    var box = $("library-replies"); box.textContent = ""; box.classList.remove("skeleton");
    if (!body.replies.length) { box.appendChild(el("div", { "class": "empty", text: keyword() ? "没有找到相关话术" : "还没有话术" })); }
    var group = null;
    body.replies.forEach(function (r) {
      var name = r.group || (r.editable ? "我的话术" : "未分组");
      if (name !== group) { group = name; box.appendChild(el("div", { "class": "lib-group", text: name })); }
      var title = el("div", { "class": "title", text: r.title }, [el("span", { "class": "scope", text: r.scope_label })]);
      var row = el("div", { "class": "lib-row reply", "data-reply": String(r.id) }, [
        el("div", { "class": "body" }, [title, el("div", { "class": "text", text: r.filled })])
      ]);
      if (r.editable) {
        var del = el("button", { type: "button", "class": "del", text: "删除", "aria-label": "删除话术" });
        del.addEventListener("click", function () {
          if (!window.confirm("删除这条话术？")) { return; }
          fetch(base + "replies/" + r.id + "/", { method: "DELETE", credentials: "same-origin",
            headers: { "X-CSRFToken": (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "" } })
            .then(loadReplies).catch(showError);
        });
        row.appendChild(del);
      }
      row.appendChild(sendButton("发送", function (id) {
        return S.post(base + "customers/" + customerId + "/replies/" + r.id + "/send/", { request_id: id })
          .then(function (sent) { return OmniWeCom.sendChatMessage(sent.message); });
      }));
      box.appendChild(row);
    });
  }
  function loadReplies() {
    return S.get(base + "customers/" + customerId + "/replies/?q=" + encodeURIComponent(keyword())).then(renderReplies)
      .catch(function (e) { var box = $("library-replies"); box.classList.remove("skeleton"); box.textContent = e.message; });
  }

  // WeCom forgot the media_id (3 days): the retry uploads it again under the same request id.
  function sendMaterial(m, id, refresh) {
    return S.post(base + "customers/" + customerId + "/materials/" + m.id + "/send/", { request_id: id, refresh_media: !!refresh })
      .then(function (sent) {
        return OmniWeCom.sendChatMessage(sent.message).catch(function (e) {
          if (!refresh && /mediaid/.test(e.message)) { return sendMaterial(m, id, true); }
          throw e;
        });
      });
  }
  function renderMaterials(body) {
    var box = $("library-materials"); box.textContent = "";
    if (!body.materials.length) { box.appendChild(el("div", { "class": "empty", text: keyword() ? "没有找到相关素材" : "还没有素材" })); }
    body.materials.forEach(function (m) {
      var thumb = m.thumb_url ? el("img", { "class": "lib-thumb", src: m.thumb_url, alt: "" }) : el("div", { "class": "lib-thumb", text: m.kind_label });
      var title = el("div", { "class": "title", text: m.title }, [el("span", { "class": "scope", text: m.scope_label })]);
      box.appendChild(el("div", { "class": "lib-row material", "data-material": String(m.id), "data-kind": m.kind }, [
        thumb,
        el("div", { "class": "body" }, [title, el("div", { "class": "text", text: m.kind_label + (m.description ? " · " + m.description : "") })]),
        sendButton("发送", function (id) { return sendMaterial(m, id, false); })
      ]));
    });
  }
  function loadMaterials() {
    return S.get(base + "customers/" + customerId + "/materials/?q=" + encodeURIComponent(keyword())).then(renderMaterials)
      .catch(function (e) { $("library-materials").textContent = e.message; });
  }
  function load() { return tab === "replies" ? loadReplies() : loadMaterials(); }

  function select(which) {
    tab = which; clearTimeout(searchTimer);
    $("library-tab-replies").setAttribute("aria-selected", String(which === "replies"));
    $("library-tab-materials").setAttribute("aria-selected", String(which === "materials"));
    $("library-replies").hidden = which !== "replies";
    $("library-new").hidden = which !== "replies";
    $("library-materials").hidden = which !== "materials";
    if (customerId) { load(); }
  }

  function start(id) {
    if (started || !id) { return; }
    started = true; customerId = id;
    $("library-replies").textContent = "加载中…";
    load();
  }

  $("library-tab-replies").addEventListener("click", function () { select("replies"); });
  $("library-tab-materials").addEventListener("click", function () { select("materials"); });
  $("library-search").addEventListener("submit", function (event) { event.preventDefault(); if (customerId) { load(); } });
  $("library-search").elements.q.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { if (customerId) { load(); } }, 250);
  });
  $("library-new-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    S.post(base + "replies/", { title: form.elements.title.value, text: form.elements.text.value }).then(function () {
      form.reset(); $("library-new").open = false; showError(null); return loadReplies();
    }).catch(showError);
  });

  document.addEventListener("omni:customer", function (event) { start(event.detail && event.detail.customerId); });
  if (S && S.customerId) { start(S.customerId); }
})();
