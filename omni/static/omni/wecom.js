/* Omni's bridge to WeCom's JS-SDK: sign the page, then getContext / getCurExternalContact / sendChatMessage / scanQRCode.
   A page that rendered its signatures (<script id="omni-jssdk" type="application/json">, for its own URL) starts
   wx.config / wx.agentConfig as soon as this runs, with no round trip first; any other page, or one whose signature
   WeCom refuses (e.g. it is reached at another URL than it was signed for), asks /wecom/jssdk/config/. */
(function () {
  "use strict";
  function invoke(name, args) {
    return new Promise(function (resolve, reject) {
      wx.invoke(name, args || {}, function (res) {
        if (res && res.err_msg === name + ":ok") { resolve(res); } else { reject(new Error((res && res.err_msg) || name + ":fail")); }
      });
    });
  }
  function pageUrl() { return location.href.split("#")[0]; }
  function fetched() {
    return fetch("/wecom/jssdk/config/?url=" + encodeURIComponent(pageUrl()), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("jssdk config " + r.status); } return r.json(); });
  }
  function configure(cfg) {
    return new Promise(function (resolve, reject) {
      wx.config(cfg.config);
      wx.agentConfig(Object.assign({}, cfg.agentConfig, {
        success: function () { resolve(); },
        fail: function (res) { reject(new Error((res && res.errMsg) || "agentConfig failed")); }
      }));
    });
  }
  function rendered() {
    var node = document.getElementById("omni-jssdk");
    var cfg = node ? JSON.parse(node.textContent || "null") : null;
    return cfg && cfg.url === pageUrl() ? cfg : null;
  }
  // The JS-SDK (window.wx): this script may run before it (both are async on the sidebar page).
  function sdk() {
    if (window.wx) { return Promise.resolve(); }
    var script = document.getElementById("wecom-jssdk");
    return new Promise(function (resolve, reject) {
      if (!script) { reject(new Error("JS-SDK missing")); return; }
      script.addEventListener("load", function () { resolve(); });
      script.addEventListener("error", function () { reject(new Error("JS-SDK failed to load")); });
    });
  }
  var ready = null;
  window.OmniWeCom = {
    ready: function () {
      if (ready) { return ready; }
      ready = sdk().then(function () {
        var cfg = rendered();
        return cfg ? configure(cfg).catch(function () { return fetched().then(configure); }) : fetched().then(configure);
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
  // Signed in the page: verify now, while the rest of the page loads.
  if (rendered()) { window.OmniWeCom.ready().catch(function () {}); }
  document.dispatchEvent(new CustomEvent("omni:wecom"));
})();
