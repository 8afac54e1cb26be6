/* Omni's bridge to WeCom's JS-SDK: sign the page, then getContext / getCurExternalContact / sendChatMessage. */
(function () {
  "use strict";
  function invoke(name, args) {
    return new Promise(function (resolve, reject) {
      wx.invoke(name, args || {}, function (res) {
        if (res && res.err_msg === name + ":ok") { resolve(res); } else { reject(new Error((res && res.err_msg) || name + ":fail")); }
      });
    });
  }
  var ready = null;
  window.OmniWeCom = {
    ready: function () {
      if (ready) { return ready; }
      var url = location.href.split("#")[0];
      ready = fetch("/wecom/jssdk/config/?url=" + encodeURIComponent(url), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("jssdk config " + r.status); } return r.json(); })
        .then(function (cfg) {
          return new Promise(function (resolve, reject) {
            wx.config(cfg.config);
            wx.agentConfig(Object.assign({}, cfg.agentConfig, {
              success: function () { resolve(); },
              fail: function (res) { reject(new Error((res && res.errMsg) || "agentConfig failed")); }
            }));
          });
        });
      return ready;
    },
    context: function () { return this.ready().then(function () { return invoke("getContext"); }); },
    currentExternalContact: function () {
      return this.ready().then(function () { return invoke("getCurExternalContact"); }).then(function (res) { return res.userId; });
    },
    sendChatMessage: function (message) { return this.ready().then(function () { return invoke("sendChatMessage", message); }); }
  };
})();
