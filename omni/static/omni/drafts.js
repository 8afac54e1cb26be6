/* The sidebar's drafts (消息草稿): once the chat's customer is known, asks /api/v1/sidebar/drafts/ for the purposes her
   facts support and the draft of the first; a tap on another purpose asks for its draft. The associate edits the text
   and sends it to the chat with sendChatMessage. The line under the text says who wrote it: the template, or the
   model (checked against her facts), or the template because the model's draft named something not in her facts. */
(function () {
  "use strict";
  var S = window.OmniSidebar, customerId = null, started = false, purpose = "";
  var $ = function (id) { return document.getElementById(id); };
  var url = "/api/v1/sidebar/drafts/";

  function showError(e) { $("drafts-error").textContent = e ? e.message || String(e) : ""; }

  function sourceText(draft) {
    if (draft.outcome === "accepted") { return "大模型草稿 · 已核对客户资料"; }
    if (draft.outcome === "refused") { return "大模型草稿提到了客户资料之外的内容，已改用模板草稿"; }
    if (draft.outcome === "failed") { return "大模型暂不可用，已改用模板草稿"; }
    return "模板草稿";
  }

  function render(body) {
    var box = $("drafts-purposes"), status = $("drafts-body");
    box.textContent = ""; status.classList.remove("skeleton");
    if (!body.purposes.length) {
      status.hidden = false; status.textContent = "暂时没有可写的内容：没有她尺码的新品、待取的预留、将到期的券、近期生日或将过期的积分。";
      $("drafts-editor").hidden = true;
      return;
    }
    purpose = body.purpose;
    body.purposes.forEach(function (p) {
      var button = S.el("button", { type: "button", "data-purpose": p.key, "aria-pressed": String(p.key === purpose), text: p.label });
      button.addEventListener("click", function () { if (p.key !== purpose) { load(p.key); } });
      box.appendChild(button);
    });
    status.hidden = true;
    $("drafts-editor").hidden = false;
    $("drafts-text").value = body.draft.text;
    var source = $("drafts-source");
    source.textContent = sourceText(body.draft);
    source.className = "dr-source" + (body.draft.outcome === "refused" || body.draft.outcome === "failed" ? " refused" : "");
    source.dataset.drafter = body.draft.drafter;
    source.dataset.outcome = body.draft.outcome;
    var send = $("drafts-send"); send.disabled = false; send.textContent = "发送给客户";
  }

  function load(key) {
    var query = "?customer_id=" + encodeURIComponent(customerId) + (key ? "&purpose=" + encodeURIComponent(key) : "");
    $("drafts-send").disabled = true;
    return S.get(url + query).then(function (body) { showError(null); render(body); }).catch(function (e) {
      $("drafts-body").classList.remove("skeleton"); showError(e);
    });
  }

  $("drafts-send").addEventListener("click", function () {
    var text = $("drafts-text").value.trim(), send = $("drafts-send");
    if (!text) { showError(new Error("草稿是空的")); return; }
    send.disabled = true; send.textContent = "发送中";
    OmniWeCom.sendChatMessage({ msgtype: "text", enterChat: true, text: { content: text } }).then(function () {
      send.textContent = "已发送"; showError(null);
      setTimeout(function () { send.disabled = false; send.textContent = "发送给客户"; }, 1500);
    }).catch(function (e) { send.disabled = false; send.textContent = "重试"; showError(e); });
  });

  function start(id) {
    if (started || !id) { return; }
    started = true; customerId = id;
    $("drafts-body").textContent = "正在起草…";
    load("");
  }
  document.addEventListener("omni:customer", function (event) { start(event.detail && event.detail.customerId); });
  if (S && S.customerId) { start(S.customerId); }
})();
