/*
 * The corp's customer tags as the WeCom admin console (管理后台 → 客户联系 → 客户标签) manages them: create, rename
 * and delete tags and groups. Each change goes through the control API (/control/tags…), which fires the
 * change_external_tag callback WeCom sends for console changes (changes made through the API send none).
 */
(function () {
  "use strict";

  function $(id) {
    return document.getElementById(id);
  }

  function button(text, className, onclick) {
    var node = document.createElement("button");
    node.className = className;
    node.textContent = text;
    node.addEventListener("click", onclick);
    return node;
  }

  function control(method, path, body) {
    return fetch("/control/" + path, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          window.alert("出错了：" + ((data.error && data.error.message) || response.statusText));
          throw new Error(response.statusText);
        }
        return data;
      });
    });
  }

  var last = "";

  function render(data) {
    var text = JSON.stringify(data.tag_groups);
    if (text === last) return;
    last = text;
    var list = $("tag-list");
    list.textContent = "";
    data.tag_groups.forEach(function (group) {
      if (group.deleted) return;
      var head = document.createElement("li");
      head.className = "tag-group";
      head.setAttribute("data-group-id", group.group_id);
      var title = document.createElement("strong");
      title.textContent = group.group_name;
      head.appendChild(title);
      head.appendChild(button("改名", "ghost small", function () { rename(group.group_id, group.group_name); }));
      head.appendChild(button("删除组", "danger small", function () { remove(group.group_id, "标签组「" + group.group_name + "」"); }));
      list.appendChild(head);
      group.tag.forEach(function (tag) {
        if (tag.deleted) return;
        var item = document.createElement("li");
        item.className = "tag";
        item.setAttribute("data-tag-id", tag.id);
        item.style.paddingLeft = "18px";
        var name = document.createElement("span");
        name.className = "tag-name";
        name.textContent = tag.name;
        item.appendChild(name);
        item.appendChild(button("改名", "ghost small", function () { rename(tag.id, tag.name); }));
        item.appendChild(button("删除", "danger small", function () { remove(tag.id, "标签「" + tag.name + "」"); }));
        list.appendChild(item);
      });
    });
  }

  function refresh() {
    return fetch("/control/tags").then(function (r) { return r.json(); }).then(render).catch(function () {});
  }

  function rename(id, name) {
    var next = window.prompt("新名称", name);
    if (next && next !== name) control("POST", "tags/edit", { id: id, name: next }).then(refresh, refresh);
  }

  function remove(id, label) {
    if (window.confirm("删除" + label + "？已打上的客户会一并移除。")) {
      control("POST", "tags/delete", { id: id }).then(refresh, refresh);
    }
  }

  $("tag-new").addEventListener("click", function () {
    var group = window.prompt("标签组", "客户偏好");
    if (!group) return;
    var names = window.prompt("标签名（多个用逗号分隔）", "");
    if (!names) return;
    control("POST", "tags", { group_name: group, names: names.split(/[,，]/).map(function (n) { return n.trim(); }).filter(Boolean) })
      .then(refresh, refresh);
  });

  refresh();
  setInterval(refresh, 2000);
})();
