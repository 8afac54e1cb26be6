/* Omni's bridge to WeCom's JS-SDK: sign the page, then getContext / getCurExternalContact / sendChatMessage / scanQRCode. */
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
    sendChatMessage: function (message) { return this.ready().then(function () { return invoke("sendChatMessage", message); }); },
    // WeCom's camera: resolves with resultStr ("EAN_13,6901234567890" for a barcode, a QR code's text).
    scanQRCode: function (scanType) {
      return this.ready().then(function () {
        return new Promise(function (resolve, reject) {
          wx.scanQRCode({
            needResult: 1,
            scanType: scanType || ["qrCode", "barCode"],
            success: function (res) { resolve(res.resultStr); },
            cancel: function () { reject(new Error("已取消扫码")); },
            fail: function (res) { reject(new Error((res && res.errMsg) || "scanQRCode:fail")); }
          });
        });
      });
    }
  };
})();
