/* The task and customer pages opened from a notice: open the customer's chat (wx.openEnterpriseChat) or WeCom profile
   (openUserProfile); on a task, mark done, snooze to a date, reassign to a colleague (/api/v1/sidebar/tasks/<id>/…). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var csrf = (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";
  var task = $("task");

  function say(text, isError) {
    var box = $("message");
    if (!box) { return; }
    box.textContent = text;
    box.className = isError ? "error" : "muted";
  }
  function post(action, data) {
    return fetch(task.dataset.api + action + "/", { method: "POST", credentials: "same-origin", body: JSON.stringify(data || {}),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf } })
      .then(function (r) { return r.json().then(function (body) { if (!r.ok) { throw new Error((body.error && body.error.message) || r.status); } return body; }); });
  }
  function act(action, data, done) {
    say("处理中…");
    post(action, data).then(function (body) { say(done(body)); setTimeout(function () { location.reload(); }, 600); },
      function (error) { say(error.message, true); });
  }

  var chat = $("open-chat");
  if (chat) {
    chat.addEventListener("click", function () {
      if (!chat.dataset.external) { say("这位客户已不是你的好友，无法打开聊天。", true); return; }
      OmniWeCom.ready().then(function () {
        wx.openEnterpriseChat({ userIds: "", externalUserIds: chat.dataset.external, groupName: "", chatId: "",
          success: function () { say("已打开聊天"); },
          fail: function (res) { say("打开聊天失败：" + (res && res.err_msg), true); } });
      }, function (error) { say("请在企业微信中打开：" + error.message, true); });
    });
  }
  var profile = $("open-profile");
  if (profile) {
    profile.addEventListener("click", function () {
      OmniWeCom.ready().then(function () {
        wx.invoke("openUserProfile", { type: 2, userid: profile.dataset.external }, function (res) {
          if (!/:ok$/.test(res.err_msg)) { say("打开资料失败：" + res.err_msg, true); }
        });
      });
    });
  }
  if (!task) { return; }
  var doneButton = $("mark-done");
  if (doneButton) {
    doneButton.addEventListener("click", function () { act("done", {}, function () { return "已完成"; }); });
  }
  var snooze = $("snooze-form");
  if (snooze) {
    snooze.addEventListener("submit", function (event) {
      event.preventDefault();
      act("snooze", { until: snooze.until.value }, function (body) { return "已推迟到 " + body.due_on; });
    });
  }
  var reassign = $("reassign-form");
  if (reassign) {
    reassign.addEventListener("submit", function (event) {
      event.preventDefault();
      act("reassign", { associate_id: Number(reassign.associate_id.value) }, function (body) { return "已转交给 " + body.associate; });
    });
  }
})();
