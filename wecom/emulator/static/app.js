/*
 * The emulator's UI: plays the WeCom client of one associate. Everything goes through the control API
 * (/control/…); the chat sidebar is Omni's page in an iframe, which talks to this window through the
 * JS-SDK stand-in by postMessage ("hello" → we answer with the open chat's context; "sent" → refresh).
 */
(function () {
  "use strict";

  var settings = JSON.parse(document.getElementById("emulator-settings").textContent);
  var sidebarOrigin = new URL(settings.sidebarUrl, location.href).origin;
  var STORAGE_KEY = "wxemu.userid";

  var ui = {
    userid: localStorage.getItem(STORAGE_KEY) || "",
    chat: null, // {external_userid} or {chat_id}
    snapshot: null,
    lastTranscript: "",
  };

  var SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高".split("");
  var GIVEN = ["晓雯", "子涵", "一诺", "思远", "欣怡", "浩然", "雨桐", "佳怡", "梓萱", "俊杰", "语嫣", "明轩"];

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function toast(text) {
    var node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () {
      node.hidden = true;
    }, 3200);
  }

  function api(method, path, body) {
    return fetch("/control/" + path, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var message = (data.error && data.error.message) || response.statusText;
          toast("出错了：" + message);
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function randomName() {
    return SURNAMES[Math.floor(Math.random() * SURNAMES.length)] + GIVEN[Math.floor(Math.random() * GIVEN.length)];
  }

  function time(at) {
    var date = new Date(at * 1000);
    return date.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" });
  }

  function dialog(title, fields) {
    $("dialog-title").textContent = title;
    var box = $("dialog-fields");
    box.textContent = "";
    fields.forEach(function (field) {
      var input = field.options
        ? el("select", { name: field.name }, field.options.map(function (o) {
            return el("option", { value: o[0], text: o[1] });
          }))
        : el("input", { name: field.name, value: field.value || "", placeholder: field.placeholder || "" });
      box.appendChild(el("label", {}, [field.label, input]));
    });
    return new Promise(function (resolve) {
      var node = $("dialog");
      node.onclose = function () {
        if (node.returnValue !== "ok") return resolve(null);
        var values = {};
        fields.forEach(function (field) {
          values[field.name] = box.querySelector("[name=" + field.name + "]").value.trim();
        });
        resolve(values);
      };
      node.showModal();
    });
  }

  // Context for the sidebar ------------------------------------------------------------------------

  function chatContext() {
    if (!ui.chat) return null;
    return {
      userid: ui.userid,
      entry: ui.chat.chat_id ? "group_chat_tools" : "single_chat_tools",
      external_userid: ui.chat.external_userid || "",
      chat_id: ui.chat.chat_id || "",
    };
  }

  function sendContext() {
    var frame = $("sidebar-frame");
    var context = chatContext();
    if (frame.contentWindow && context) {
      frame.contentWindow.postMessage({ wxemu: "context", context: context }, sidebarOrigin);
    }
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== sidebarOrigin || !event.data) return;
    if (event.data.wxemu === "hello") sendContext();
    if (event.data.wxemu === "sent") refresh();
    if (event.data.wxemu === "scan") scan(event.data);
    if (event.data.wxemu === "openChat" && event.data.context) openChat({ external_userid: event.data.context.external_userid });
  });

  // wx.scanQRCode in the sidebar: the associate "points the camera" by typing what the code holds.
  function scan(request) {
    var kinds = [["barCode", "条形码"], ["qrCode", "二维码"]].filter(function (k) {
      return (request.scanType || ["qrCode", "barCode"]).indexOf(k[0]) >= 0;
    });
    dialog("扫一扫", [
      { name: "kind", label: "码的类型", options: kinds },
      { name: "text", label: "条码或二维码的内容", placeholder: "如 6901234567890" },
    ]).then(function (values) {
      var frame = $("sidebar-frame");
      var answer = values && values.text ? { kind: values.kind, text: values.text } : { cancelled: true };
      answer.wxemu = "scanned";
      answer.id = request.id;
      if (frame.contentWindow) frame.contentWindow.postMessage(answer, sidebarOrigin);
    });
  }

  function openChat(chat) {
    ui.chat = chat;
    ui.lastTranscript = "";
    var body = { userid: ui.userid };
    if (chat.chat_id) body.chat_id = chat.chat_id;
    else body.external_userid = chat.external_userid;
    api("POST", "ui/open", body).then(function () {
      var frame = $("sidebar-frame");
      frame.onload = sendContext;
      // A fresh page per chat, as WeCom opens the tool bar anew for each conversation.
      frame.src = settings.sidebarUrl;
      refresh();
    });
  }

  // Rendering -----------------------------------------------------------------------------------------

  function renderAssociates(snapshot) {
    var known = snapshot.associates.some(function (a) {
      return a.userid === ui.userid && !a.resigned;
    });
    if (ui.userid && !known) {
      ui.userid = "";
      ui.chat = null;
      localStorage.removeItem(STORAGE_KEY);
    }
    var select = $("associate-select");
    var current = select.value;
    select.textContent = "";
    select.appendChild(el("option", { value: "", text: "（请选择导购）" }));
    snapshot.associates.forEach(function (a) {
      if (a.resigned) return;
      var label = a.name + (a.store ? " · " + a.store : "") + "（" + a.userid + "）";
      select.appendChild(el("option", { value: a.userid, text: label }));
    });
    select.value = ui.userid || current;
  }

  function renderCustomers(snapshot) {
    var list = $("customer-list");
    list.textContent = "";
    if (!ui.userid) {
      list.appendChild(el("li", { className: "none", text: "先在上方选择一位导购。" }));
      return;
    }
    if (!snapshot.customers.length) {
      list.appendChild(el("li", { className: "none", text: "还没有客户：点「新客户扫码添加」。" }));
    }
    snapshot.customers.forEach(function (c) {
      var active = ui.chat && ui.chat.external_userid === c.external_userid;
      var sub = c.relation.state ? "渠道 " + c.relation.state : "添加于 " + time(c.relation.createtime);
      list.appendChild(
        el("li", {
          className: active ? "active" : "",
          "data-external-userid": c.external_userid,
          onclick: function () {
            openChat({ external_userid: c.external_userid, name: c.name });
          },
        }, [
          el("div", { className: "avatar", text: c.name.slice(0, 1) }),
          el("div", { className: "meta" }, [
            el("div", { className: "name" }, [c.name, el("span", { className: "wechat", text: "@微信" })]),
            el("div", { className: "sub", text: sub }),
          ]),
        ])
      );
    });
  }

  function renderGroups(snapshot) {
    var list = $("group-list");
    list.textContent = "";
    if (ui.userid && !snapshot.groups.length) list.appendChild(el("li", { className: "none", text: "还没有客户群。" }));
    snapshot.groups.forEach(function (g) {
      var active = ui.chat && ui.chat.chat_id === g.chat_id;
      list.appendChild(
        el("li", {
          className: active ? "active" : "",
          onclick: function () {
            openChat({ chat_id: g.chat_id, name: g.name });
          },
        }, [
          el("div", { className: "avatar group", text: "群" }),
          el("div", { className: "meta" }, [
            el("div", { className: "name", text: g.name || "未命名群聊" }),
            el("div", { className: "sub", text: g.member_list.length + " 人" + (g.owner === ui.userid ? " · 我是群主" : "") }),
          ]),
        ])
      );
    });
  }

  function renderMass(snapshot) {
    var list = $("mass-list");
    list.textContent = "";
    if (ui.userid && !snapshot.pending_mass.length) list.appendChild(el("li", { className: "none", text: "没有待发送的群发。" }));
    snapshot.pending_mass.forEach(function (m) {
      var preview = (m.text && m.text.content) || "[" + m.attachments.length + " 个附件]";
      list.appendChild(
        el("li", {}, [
          el("div", { className: "meta" }, [
            el("div", { className: "name", text: preview }),
            el("div", { className: "sub", text: "发给 " + m.targets + " 位" + (m.reminds ? " · 已提醒 " + m.reminds + " 次" : "") }),
          ]),
          el("button", {
            className: "small",
            text: "确认发送",
            onclick: function () {
              api("POST", "mass_messages/confirm", { msgid: m.msgid, userid: ui.userid }).then(function (result) {
                var counts = { 1: 0, 2: 0, 3: 0 };
                Object.keys(result.results).forEach(function (k) {
                  counts[result.results[k].status] = (counts[result.results[k].status] || 0) + 1;
                });
                toast("已发送 " + counts[1] + " 位，非好友 " + counts[2] + " 位，本月已达上限 " + counts[3] + " 位");
                refresh();
              });
            },
          }),
        ])
      );
    });
  }

  // App messages (应用消息): a card opens its link in the phone, as WeCom opens it in its own browser.
  function renderAppMessages(snapshot) {
    var list = $("app-message-list");
    list.textContent = "";
    var messages = snapshot.app_messages || [];
    if (ui.userid && !messages.length) list.appendChild(el("li", { className: "none", text: "没有应用消息。" }));
    messages.forEach(function (m) {
      list.appendChild(
        el("li", { className: "app-message" }, [
          el("div", { className: "meta" }, [
            el("div", { className: "name", text: m.title }),
            el("div", { className: "sub", text: m.description }),
            el("div", { className: "sub", text: time(m.created_at) }),
          ]),
          el("button", {
            className: "small",
            text: m.btntxt || "详情",
            onclick: function () {
              ui.chat = null;
              api("POST", "ui/open", { userid: ui.userid }).then(function () {
                var frame = $("sidebar-frame");
                frame.onload = null;
                frame.src = m.url;
                refresh();
              });
            },
          }),
        ])
      );
    });
  }

  var EVENT_LABELS = { change_external_contact: "客户", change_external_chat: "客户群", change_external_tag: "标签" };
  var DELIVERY_STATUS = { queued: "排队中", delivering: "投递中", delivered: "已送达", failed: "失败", skipped: "未投递" };

  function renderDeliveries(snapshot) {
    var list = $("delivery-list");
    list.textContent = "";
    if (!snapshot.deliveries.length) list.appendChild(el("li", { className: "none", text: "还没有回调。" }));
    snapshot.deliveries.slice().reverse().forEach(function (d) {
      list.appendChild(
        el("li", {}, [
          el("span", { className: "status " + d.status, text: DELIVERY_STATUS[d.status] || d.status }),
          el("span", { text: (EVENT_LABELS[d.event] || d.event) + " · " + d.change_type + (d.attempts > 1 ? " ×" + d.attempts : "") }),
          el("span", { className: "muted", text: time(d.created_at) }),
        ])
      );
    });
  }

  function mediaUrl(id) {
    return "/media/" + encodeURIComponent(id);
  }

  function bubble(message) {
    var b = message.body || {};
    switch (message.msgtype) {
      case "text":
        return el("div", { className: "bubble", text: b.content || "" });
      case "image": {
        var src = b.mediaid || b.media_id ? mediaUrl(b.mediaid || b.media_id) : b.pic_url || "";
        return el("div", { className: "bubble" }, [el("img", { src: src, alt: "图片" })]);
      }
      case "news":
      case "link": {
        var href = b.url || b.link || "";
        // The customer taps the card in their WeChat: the page opens as them (the OA's web authorization).
        var open =
          href && ui.chat && ui.chat.external_userid
            ? el("a", {
                className: "open-in-wechat",
                target: "_blank",
                href: "/wechat/open?" + new URLSearchParams({ external_userid: ui.chat.external_userid, url: href }),
                text: "在客户微信中打开",
              })
            : null;
        return el("div", { className: "card" }, [
          el("div", { className: "title", text: b.title || "" }),
          el("div", { className: "desc", text: b.desc || href }),
          b.imgUrl || b.picurl ? el("img", { src: b.imgUrl || b.picurl, alt: "" }) : null,
          el("div", { className: "kind" }, ["链接", open ? " · " : null, open]),
        ]);
      }
      case "miniprogram":
        return el("div", { className: "card" }, [
          el("div", { className: "title", text: b.title || "" }),
          el("div", { className: "desc", text: b.page || "" }),
          b.imgUrl ? el("img", { src: b.imgUrl, alt: "" }) : null,
          b.pic_media_id ? el("img", { src: mediaUrl(b.pic_media_id), alt: "" }) : null,
          el("div", { className: "kind", text: "小程序" }),
        ]);
      default:
        return el("div", { className: "bubble", text: "[" + message.msgtype + "]" });
    }
  }

  var KIND_LABELS = { welcome: "欢迎语", mass: "群发", sidebar: "侧边栏发送", chat: "" };

  function renderTranscript(snapshot) {
    var box = $("transcript");
    var key = JSON.stringify(snapshot.transcript) + JSON.stringify(ui.chat);
    if (key === ui.lastTranscript) return;
    ui.lastTranscript = key;
    box.textContent = "";
    if (!ui.chat) {
      box.appendChild(el("div", { className: "empty", text: "在左侧选择导购和客户，打开单聊；右侧是 Omni 的聊天侧边栏。" }));
      return;
    }
    if (!snapshot.transcript.length) box.appendChild(el("div", { className: "empty", text: "还没有消息。" }));
    var names = {};
    snapshot.associates.forEach(function (a) {
      names[a.userid] = a.name;
    });
    snapshot.all_customers.forEach(function (c) {
      names[c.external_userid] = c.name;
    });
    snapshot.transcript.forEach(function (m) {
      var mine = m.sender === ui.userid;
      var label = (names[m.sender] || m.sender) + " · " + time(m.at) + (KIND_LABELS[m.kind] ? " · " + KIND_LABELS[m.kind] : "");
      box.appendChild(
        el("div", { className: "msg" + (mine ? " mine" : ""), "data-kind": m.kind }, [
          el("div", { className: "avatar" + (mine ? "" : " group"), text: (names[m.sender] || "?").slice(0, 1) }),
          el("div", { className: "body" }, [el("div", { className: "label", text: label }), bubble(m)]),
        ])
      );
    });
    box.scrollTop = box.scrollHeight;
  }

  function renderChatHead(snapshot) {
    var title = $("chat-title");
    var sub = $("chat-sub");
    var actions = $("chat-actions");
    var tools = $("group-tools");
    actions.textContent = "";
    tools.hidden = true;
    if (!ui.chat) {
      title.textContent = "选择一位客户开始聊天";
      sub.textContent = "";
      return;
    }
    if (ui.chat.external_userid) {
      var customer = snapshot.customers.filter(function (c) {
        return c.external_userid === ui.chat.external_userid;
      })[0];
      title.textContent = (customer ? customer.name : ui.chat.name || "") + " @微信";
      sub.textContent = ui.chat.external_userid + (customer ? "" : " · 已不是好友");
      if (customer) {
        actions.appendChild(el("button", { className: "danger small", text: "导购删除客户", onclick: function () {
          deleteContact("associate");
        } }));
        actions.appendChild(el("button", { className: "danger small", text: "客户删除导购", onclick: function () {
          deleteContact("customer");
        } }));
      }
      return;
    }
    var group = snapshot.groups.filter(function (g) {
      return g.chat_id === ui.chat.chat_id;
    })[0];
    title.textContent = group ? group.name + "（" + group.member_list.length + "）" : "群聊已不存在";
    sub.textContent = ui.chat.chat_id;
    if (!group) return;
    tools.hidden = false;
    group.member_list.forEach(function (m) {
      if (m.userid === group.owner) return;
      // A customer leaves on their own (QuitScene 0); a colleague is removed by the owner (QuitScene 1).
      var byThemselves = m.type === 2;
      actions.appendChild(el("button", { className: "ghost small", text: (byThemselves ? "退群：" : "移出：") + m.name, onclick: function () {
        api("POST", "groups/leave", { chat_id: group.chat_id, member: m.userid, quit_scene: byThemselves ? 0 : 1 }).then(refresh);
      } }));
    });
    var inGroup = {};
    group.member_list.forEach(function (m) {
      inGroup[m.userid] = true;
    });
    fillSelect($("join-customer"), snapshot.all_customers.filter(function (c) {
      return !inGroup[c.external_userid];
    }).map(function (c) {
      return [c.external_userid, c.name];
    }), "（选择客户）");
    var modes = [["invite", "导购邀请入群"]];
    snapshot.join_ways.forEach(function (w) {
      if (w.chat_id_list.indexOf(group.chat_id) >= 0) modes.push([w.config_id, "扫码入群 · " + (w.state || w.remark || w.config_id.slice(0, 6))]);
    });
    fillSelect($("join-mode"), modes);
  }

  function fillSelect(select, options, placeholder) {
    var current = select.value;
    select.textContent = "";
    if (placeholder) select.appendChild(el("option", { value: "", text: placeholder }));
    options.forEach(function (o) {
      select.appendChild(el("option", { value: o[0], text: o[1] }));
    });
    if (current) select.value = current;
  }

  function renderScanForm(snapshot) {
    var ways = snapshot.contact_ways.map(function (w) {
      return [w.config_id, "联系我 · " + (w.state || w.remark || w.config_id.slice(0, 6))];
    });
    ways.push(["", "直接添加（无渠道）"]);
    // Every code and acquisition link of the corp: scanned or opened by a new customer, WeCom picks the member.
    (snapshot.scan_targets || []).forEach(function (t) {
      var prefix = t.kind === "link" ? "获客链接 · " : "渠道活码（企业微信分配）· ";
      ways.push([t.kind + ":" + t.id, prefix + (t.label || t.id.slice(0, 6))]);
    });
    fillSelect($("scan-way"), ways);
    $("scan-channel").hidden = $("scan-way").value.indexOf("link:") !== 0;
    var friends = {};
    snapshot.customers.forEach(function (c) {
      friends[c.external_userid] = true;
    });
    fillSelect($("scan-existing"), snapshot.all_customers.filter(function (c) {
      return !friends[c.external_userid];
    }).map(function (c) {
      return [c.external_userid, "已有客户：" + c.name];
    }), "（新客户）");
  }

  function renderFaults(snapshot) {
    if (!$("faults-panel").hidden && document.activeElement && $("faults-panel").contains(document.activeElement)) return;
    $("fault-rate").value = snapshot.faults.rate_limit_rate;
    $("fault-busy").value = snapshot.faults.busy_rate;
    $("fault-latency").value = snapshot.faults.latency_ms;
    $("fault-callbacks").value = snapshot.faults.callbacks;
  }

  function render(snapshot) {
    ui.snapshot = snapshot;
    renderAssociates(snapshot);
    renderCustomers(snapshot);
    renderGroups(snapshot);
    renderMass(snapshot);
    renderAppMessages(snapshot);
    renderDeliveries(snapshot);
    renderChatHead(snapshot);
    renderTranscript(snapshot);
    renderScanForm(snapshot);
    renderFaults(snapshot);
  }

  function refresh() {
    var params = new URLSearchParams({ userid: ui.userid });
    if (ui.chat && ui.chat.chat_id) params.set("chat_id", ui.chat.chat_id);
    if (ui.chat && ui.chat.external_userid) params.set("external_userid", ui.chat.external_userid);
    return fetch("/control/ui/snapshot?" + params.toString())
      .then(function (response) {
        return response.json();
      })
      .then(render)
      .catch(function () {});
  }

  // Actions --------------------------------------------------------------------------------------------

  function chooseAssociate(userid) {
    ui.userid = userid;
    ui.chat = null;
    localStorage.setItem(STORAGE_KEY, userid);
    $("sidebar-frame").src = "about:blank";
    if (userid) api("POST", "login", { userid: userid }).then(refresh, refresh);
    else refresh();
  }

  function deleteContact(by) {
    api("POST", "contacts/delete", { userid: ui.userid, external_userid: ui.chat.external_userid, by: by }).then(refresh);
  }

  $("associate-select").addEventListener("change", function (event) {
    chooseAssociate(event.target.value);
  });

  $("new-associate").addEventListener("click", function () {
    dialog("新建导购", [
      { name: "userid", label: "成员账号 userid", placeholder: "例如 zhangsan" },
      { name: "name", label: "姓名", placeholder: "例如 张三" },
      { name: "store", label: "门店", placeholder: "例如 上海南京西路店" },
    ]).then(function (values) {
      if (!values) return;
      api("POST", "associates", values).then(function () {
        chooseAssociate(values.userid);
      });
    });
  });

  $("scan-new").addEventListener("click", function () {
    if (!ui.userid) return toast("请先选择导购");
    var form = $("scan-form");
    form.hidden = !form.hidden;
    $("scan-name").value = randomName();
  });

  $("scan-way").addEventListener("change", function () {
    $("scan-channel").hidden = $("scan-way").value.indexOf("link:") !== 0;
  });

  $("scan-go").addEventListener("click", function () {
    var existing = $("scan-existing").value;
    var configId = $("scan-way").value;
    var customer = existing
      ? Promise.resolve({ external_userid: existing })
      : api("POST", "customers", { name: $("scan-name").value.trim() || randomName(), gender: 0 });
    customer.then(function (c) {
      var body = { external_userid: c.external_userid };
      if (configId.indexOf("link:") === 0) {
        return api("POST", "links/open", {
          external_userid: c.external_userid,
          link_id: configId.slice(5),
          customer_channel: $("scan-channel").value.trim()
        });
      }
      if (configId.indexOf("contact_way:") === 0) {
        return api("POST", "contacts/add", { external_userid: c.external_userid, config_id: configId.slice(12) });
      }
      if (configId) {
        body.config_id = configId;
        body.userid = ui.userid;
      } else {
        body.userid = ui.userid;
        body.add_way = 1;
      }
      return api("POST", "contacts/add", body);
    }).then(function () {
      $("scan-form").hidden = true;
      toast("客户已添加，add_external_contact 回调已发出");
      refresh();
    });
  });

  $("group-new").addEventListener("click", function () {
    if (!ui.userid) return toast("请先选择导购");
    dialog("新建客户群", [{ name: "name", label: "群名称", value: "门店福利群" }]).then(function (values) {
      if (!values) return;
      api("POST", "groups", { owner: ui.userid, name: values.name }).then(function (result) {
        openChat({ chat_id: result.group_chat.chat_id, name: result.group_chat.name });
      });
    });
  });

  $("join-go").addEventListener("click", function () {
    var member = $("join-customer").value;
    var mode = $("join-mode").value;
    if (!member) return toast("请选择客户");
    var body = { member: member, chat_id: ui.chat.chat_id };
    if (mode === "invite") {
      body.join_scene = 0;
      body.invitor = ui.userid;
    } else {
      body.config_id = mode;
      body.join_scene = 3;
    }
    api("POST", "groups/join", body).then(refresh);
  });

  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("composer-text").value.trim();
    if (!text || !ui.chat) return;
    var sender = ui.userid;
    if ($("composer-as").value === "customer") {
      if (ui.chat.external_userid) sender = ui.chat.external_userid;
      else {
        var group = ui.snapshot.groups.filter(function (g) {
          return g.chat_id === ui.chat.chat_id;
        })[0];
        var customer = group && group.member_list.filter(function (m) {
          return m.type === 2;
        })[0];
        if (!customer) return toast("群里还没有客户");
        sender = customer.userid;
      }
    }
    var body = { userid: ui.userid, sender: sender, text: text };
    if (ui.chat.chat_id) body.chat_id = ui.chat.chat_id;
    else body.external_userid = ui.chat.external_userid;
    api("POST", "transcript", body).then(function () {
      $("composer-text").value = "";
      refresh();
    });
  });

  $("toggle-faults").addEventListener("click", function () {
    $("faults-panel").hidden = !$("faults-panel").hidden;
  });

  $("fault-save").addEventListener("click", function () {
    api("POST", "faults", {
      rate_limit_rate: Number($("fault-rate").value) || 0,
      busy_rate: Number($("fault-busy").value) || 0,
      latency_ms: parseInt($("fault-latency").value, 10) || 0,
      callbacks: $("fault-callbacks").value,
    }).then(function () {
      toast("故障设置已应用");
    });
  });

  $("fault-expire").addEventListener("click", function () {
    api("POST", "faults", { expire_tokens_now: true }).then(function () {
      toast("所有 access_token 已过期，下一次调用将返回 42001");
    });
  });

  $("clock-advance").addEventListener("click", function () {
    api("POST", "clock", { advance_seconds: 21 }).then(function () {
      toast("模拟器时钟前进了 21 秒（欢迎语 welcome_code 已过期）");
    });
  });

  $("corp-info").textContent = "企业 " + settings.corpId + " · 应用 " + settings.agentId;
  $("sidebar-url").textContent = settings.sidebarUrl;
  if (ui.userid) chooseAssociate(ui.userid);
  else refresh();
  setInterval(refresh, 1500);
})();
