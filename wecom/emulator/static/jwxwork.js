/*
 * Stand-in for WeCom's JS-SDK served by the local WeCom emulator: the classic jwxwork API (`wx`)
 * and the newer @wecom/jssdk one (`ww.register`, Promise-returning ww.getContext and friends).
 *
 * wx.config / wx.agentConfig send their signature to the emulator, which checks it against the
 * jsapi_ticket / agent_config ticket it issued, for this page's URL without its #fragment.
 * wx.invoke answers from the chat the emulator's UI has open (told to this page by postMessage from
 * the parent window, or read from the emulator when the page runs outside the UI). Before
 * wx.agentConfig succeeds, or for an API missing from its jsApiList, every wx.invoke answers
 * "<name>:fail no permission", as WeCom does.
 *
 * wx.scanQRCode asks the emulator's UI (postMessage "scan"; outside the UI a prompt) for what the camera reads,
 * and the emulator turns it into WeCom's answer: resultStr "EAN_13,6901234567890" for a barcode, the text of a QR
 * code. It needs "scanQRCode" in the jsApiList of wx.config or wx.agentConfig ("scanQRCode:permission denied").
 */
(function (global) {
  "use strict";

  var script = document.currentScript;
  var EMULATOR = script ? new URL(script.src, global.location.href).origin : "";
  var inFrame = global.parent && global.parent !== global;

  var readyCallbacks = [];
  var errorCallbacks = [];
  var isReady = false;
  var agentSession = null;
  var agentApiList = [];
  var configSession = null;
  var configApiList = [];
  var scans = {};
  var scanCount = 0;
  var context = null;
  var contextWaiters = [];

  function safeCall(fn, arg) {
    if (typeof fn !== "function") return;
    try {
      fn(arg);
    } catch (error) {
      setTimeout(function () {
        throw error;
      });
    }
  }

  function setContext(value) {
    if (!value) return;
    context = value;
    contextWaiters.splice(0).forEach(function (resolve) {
      resolve(context);
    });
  }

  global.addEventListener("message", function (event) {
    if (event.origin !== EMULATOR || !event.data) return;
    if (event.data.wxemu === "context") setContext(event.data.context);
    if (event.data.wxemu === "scanned" && scans[event.data.id]) {
      var done = scans[event.data.id];
      delete scans[event.data.id];
      done(event.data);
    }
  });

  if (inFrame) global.parent.postMessage({ wxemu: "hello" }, EMULATOR);
  // Outside the UI the open chat is read from the emulator, as soon as the SDK loads: WeCom's app knows it without a
  // request, so waiting for the first wx.invoke would add a round trip WeCom does not have. What wx.invoke answers,
  // and when (only after wx.agentConfig succeeds), is unchanged.
  var prefetched = inFrame ? null : fetchContext();

  function fetchContext() {
    return fetch(EMULATOR + "/jssdk/context")
      .then(function (response) {
        return response.json();
      })
      .then(function (data) {
        if (!context) setContext(data.context);
        return context;
      })
      .catch(function () {
        return context;
      });
  }

  // The parent usually answers "hello" within milliseconds; outside the UI ask the emulator.
  function currentContext() {
    if (context) return Promise.resolve(context);
    return new Promise(function (resolve) {
      contextWaiters.push(resolve);
      setTimeout(function () {
        (prefetched || fetchContext()).then(function () {
          resolve(context);
        });
      }, inFrame ? 1500 : 0);
    });
  }

  function post(path, body) {
    // text/plain keeps this a "simple" cross-origin request (no preflight).
    return fetch(EMULATOR + path, {
      method: "POST",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json();
    });
  }

  function pageUrl() {
    return global.location.href.split("#")[0];
  }

  function becomeReady() {
    if (isReady) return;
    isReady = true;
    readyCallbacks.splice(0).forEach(function (fn) {
      safeCall(fn);
    });
  }

  function verify(api, config) {
    return post("/jssdk/verify", {
      api: api,
      appId: config.appId,
      corpid: config.corpid,
      agentid: config.agentid === undefined ? "" : String(config.agentid),
      timestamp: String(config.timestamp),
      nonceStr: config.nonceStr,
      signature: config.signature,
      url: pageUrl(),
      jsApiList: config.jsApiList || [],
    }).catch(function () {
      return { ok: false, errMsg: api + ":fail network error" };
    });
  }

  var wx = {
    config: function (config) {
      verify("config", config || {}).then(function (result) {
        if (result.ok) {
          configSession = result.session;
          configApiList = ((config || {}).jsApiList || []).slice();
          becomeReady();
        } else {
          errorCallbacks.forEach(function (fn) {
            safeCall(fn, { errMsg: result.errMsg });
          });
        }
      });
    },

    ready: function (fn) {
      if (isReady) {
        setTimeout(function () {
          safeCall(fn);
        });
      } else {
        readyCallbacks.push(fn);
      }
    },

    error: function (fn) {
      errorCallbacks.push(fn);
    },

    agentConfig: function (config) {
      config = config || {};
      verify("agentConfig", config).then(function (result) {
        var res = { errMsg: result.errMsg };
        if (result.ok) {
          agentSession = result.session;
          agentApiList = (config.jsApiList || []).slice();
          becomeReady();
          safeCall(config.success, res);
        } else {
          safeCall(config.fail, res);
        }
        safeCall(config.complete, res);
      });
    },

    checkJsApi: function (options) {
      options = options || {};
      var known = [
        "getContext",
        "getCurExternalContact",
        "getCurExternalChat",
        "sendChatMessage",
        "scanQRCode",
        "openEnterpriseChat",
        "openUserProfile",
      ];
      var result = {};
      (options.jsApiList || []).forEach(function (name) {
        result[name] = known.indexOf(name) >= 0;
      });
      setTimeout(function () {
        safeCall(options.success, { checkResult: result, errMsg: "checkJsApi:ok" });
      });
    },

    // wx.openEnterpriseChat: a single chat with one customer (externalUserIds) opens in the emulator's UI.
    openEnterpriseChat: function (options) {
      options = options || {};
      openChat("openEnterpriseChat", { external_userid: options.externalUserIds || "" }, function (res) {
        safeCall(/:ok$/.test(res.err_msg) ? options.success : options.fail, res);
      });
    },

    invoke: function (name, args, callback) {
      if (typeof args === "function") {
        callback = args;
        args = {};
      }
      args = args || {};
      function answer(res) {
        safeCall(callback, res);
      }
      if (!agentSession || agentApiList.indexOf(name) < 0) {
        setTimeout(function () {
          answer({ err_msg: name + ":fail no permission" });
        });
        return;
      }
      currentContext().then(function (ctx) {
        var entry = ctx ? ctx.entry : "normal";
        if (name === "getContext") {
          answer({ err_msg: "getContext:ok", entry: entry });
        } else if (name === "getCurExternalContact") {
          if (ctx && ctx.external_userid && (entry === "single_chat_tools" || entry === "contact_profile")) {
            answer({ err_msg: "getCurExternalContact:ok", userId: ctx.external_userid });
          } else {
            answer({ err_msg: "getCurExternalContact:fail without context of external contact" });
          }
        } else if (name === "getCurExternalChat") {
          if (ctx && ctx.chat_id && entry === "group_chat_tools") {
            answer({ err_msg: "getCurExternalChat:ok", chatId: ctx.chat_id });
          } else {
            answer({ err_msg: "getCurExternalChat:fail without context of external chat" });
          }
        } else if (name === "sendChatMessage") {
          var message = {};
          Object.keys(args).forEach(function (key) {
            message[key] = args[key];
          });
          message.session = agentSession;
          message.context = ctx;
          post("/jssdk/send_chat_message", message).then(
            function (res) {
              answer(res);
              if (inFrame) global.parent.postMessage({ wxemu: "sent", err_msg: res.err_msg }, EMULATOR);
            },
            function () {
              answer({ err_msg: "sendChatMessage:fail network error" });
            }
          );
        } else if (name === "openUserProfile") {
          if (args.type !== 2) answer({ err_msg: "openUserProfile:fail invalid type" });
          else openChat("openUserProfile", { external_userid: args.userid || "" }, answer);
        } else {
          answer({ err_msg: name + ":fail function not exist" });
        }
      });
    },
  };

  // What the camera reads: the UI's scan dialog when in its frame, else a prompt. {kind, text} or {cancelled}.
  function cameraRead(scanType) {
    if (!inFrame) {
      var text = global.prompt("扫一扫：输入条码或二维码的内容");
      return Promise.resolve(text ? { kind: /^\d+$/.test(text) ? "barCode" : "qrCode", text: text } : { cancelled: true });
    }
    return new Promise(function (resolve) {
      var id = "scan" + ++scanCount;
      scans[id] = resolve;
      global.parent.postMessage({ wxemu: "scan", id: id, scanType: scanType }, EMULATOR);
    });
  }

  wx.scanQRCode = function (options) {
    options = options || {};
    var scanType = options.scanType || ["qrCode", "barCode"];
    function settle(res) {
      if (/:ok$/.test(res.errMsg)) safeCall(options.success, res);
      else if (/:cancel$/.test(res.errMsg)) safeCall(options.cancel, res);
      else safeCall(options.fail, res);
      safeCall(options.complete, res);
      return res;
    }
    var session = configApiList.indexOf("scanQRCode") >= 0 ? configSession : null;
    if (!session && agentApiList.indexOf("scanQRCode") >= 0) session = agentSession;
    if (!session) {
      return Promise.resolve(settle({ errMsg: "scanQRCode:permission denied" }));
    }
    return cameraRead(scanType)
      .then(function (read) {
        if (read.cancelled) return { errMsg: "scanQRCode:cancel" };
        return post("/jssdk/scan_qrcode", {
          session: session,
          needResult: options.needResult ? 1 : 0,
          scanType: scanType,
          kind: read.kind,
          text: read.text,
        });
      })
      .catch(function () {
        return { errMsg: "scanQRCode:fail network error" };
      })
      .then(settle);
  };

  function openChat(api, target, answer) {
    if (!agentSession || agentApiList.indexOf(api) < 0) {
      setTimeout(function () {
        answer({ err_msg: api + ":fail no permission" });
      });
      return;
    }
    post("/jssdk/open_chat", { session: agentSession, api: api, external_userid: target.external_userid }).then(
      function (res) {
        answer(res);
        if (inFrame && res.context) global.parent.postMessage({ wxemu: "openChat", context: res.context }, EMULATOR);
      },
      function () {
        answer({ err_msg: api + ":fail network error" });
      }
    );
  }

  // The newer @wecom/jssdk (the `ww` global): ww.register signs once, every API returns a Promise and
  // waits for the registration to settle, and results carry errMsg instead of err_msg.
  var registration = Promise.resolve();

  function signWith(getSignature, api, fields) {
    return Promise.resolve(getSignature(pageUrl())).then(function (signed) {
      var config = { jsApiList: fields.jsApiList, timestamp: signed.timestamp, nonceStr: signed.nonceStr };
      config.signature = signed.signature;
      config.appId = fields.corpId;
      config.corpid = fields.corpId;
      config.agentid = fields.agentId;
      return verify(api, config);
    });
  }

  function wwCall(name, args, options) {
    options = options || {};
    return registration.then(function () {
      return new Promise(function (resolve, reject) {
        wx.invoke(name, args, function (res) {
          var result = { errMsg: res.err_msg };
          Object.keys(res).forEach(function (key) {
            if (key !== "err_msg") result[key] = res[key];
          });
          if (/:ok$/.test(res.err_msg)) {
            safeCall(options.success, result);
            resolve(result);
          } else {
            safeCall(options.fail, result);
            reject(result);
          }
          safeCall(options.complete, result);
        });
      });
    });
  }

  var ww = {
    register: function (options) {
      options = options || {};
      var fields = { corpId: options.corpId, agentId: options.agentId, jsApiList: options.jsApiList || [] };
      var steps = [];
      if (typeof options.getConfigSignature === "function") {
        steps.push(
          signWith(options.getConfigSignature, "config", fields).then(function (result) {
            if (result.ok) becomeReady();
            safeCall(result.ok ? options.onConfigSuccess : options.onConfigFail, { errMsg: result.errMsg });
          })
        );
      }
      if (typeof options.getAgentConfigSignature === "function") {
        steps.push(
          signWith(options.getAgentConfigSignature, "agentConfig", fields).then(function (result) {
            if (result.ok) {
              agentSession = result.session;
              agentApiList = fields.jsApiList.slice();
              becomeReady();
            }
            safeCall(result.ok ? options.onAgentConfigSuccess : options.onAgentConfigFail, { errMsg: result.errMsg });
          })
        );
      }
      registration = Promise.all(steps).catch(function () {});
    },
    getContext: function (options) {
      return wwCall("getContext", {}, options);
    },
    getCurExternalContact: function (options) {
      return wwCall("getCurExternalContact", {}, options);
    },
    getCurExternalChat: function (options) {
      return wwCall("getCurExternalChat", {}, options);
    },
    scanQRCode: function (options) {
      return registration.then(function () {
        return wx.scanQRCode(options).then(function (res) {
          if (/:ok$/.test(res.errMsg)) return res;
          throw res;
        });
      });
    },
    sendChatMessage: function (options) {
      var args = {};
      Object.keys(options || {}).forEach(function (key) {
        if (["success", "fail", "complete"].indexOf(key) < 0) args[key] = options[key];
      });
      return wwCall("sendChatMessage", args, options);
    },
  };

  global.wx = wx;
  global.jWeixin = wx;
  global.ww = ww;
})(window);
