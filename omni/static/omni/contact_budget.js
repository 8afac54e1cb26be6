// Consent and the contact budget in the chat sidebar: the week's marketing contacts ("本周已被同事联系 N 次") as a chip
// under the customer's name and in its card, read again after each send; the customer's opt-out, marked on request;
// an exception to the budget, logged with its reason, where the store allows one.
(function () {
  "use strict";
  var card = document.getElementById("budget-card");
  if (!card) { return; }
  var line = document.getElementById("budget-line"), form = document.getElementById("budget-override");
  var optOut = document.getElementById("budget-opt-out"), customerId = null, timer = null;
  function S() { return window.OmniSidebar; }
  function url(tail) { return S().api + customerId + "/" + tail; }

  function render(b) {
    line.classList.remove("skeleton");
    line.textContent = b.text + (b.override_ready ? "（已记录例外，可再发送一次）" : "");
    line.className = "line" + (b.opted_out ? " out" : b.left === 0 ? " full" : "");
    line.dataset.used = String(b.used);
    form.hidden = b.opted_out || b.left > 0 || !b.allow_override || b.override_ready;
    optOut.hidden = b.opted_out;
    var chips = document.getElementById("chips"), chip = document.getElementById("budget-chip");
    if (!chip && chips) { chip = S().el("span", { id: "budget-chip" }); chips.appendChild(chip); }
    if (chip) {
      chip.className = "chip " + (b.opted_out ? "optout" : "budget" + (b.left === 0 ? " full" : ""));
      chip.textContent = b.opted_out ? "已退订营销" : "本周已被同事联系 " + b.others + " 次";
      // The first screen already says 已退订营销 for a customer who opted out before the chat was opened.
      chip.hidden = b.opted_out && Array.prototype.some.call(chips.children, function (c) {
        return c !== chip && c.textContent === "已退订营销";
      });
    }
  }
  function load() { return S().get(url("contact-budget/")).then(render).catch(function (e) { line.textContent = e.message; }); }
  function start(id) { customerId = id; load(); }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    S().post(url("contact-budget/override/"), { reason: form.reason.value }).then(render).catch(function (e) { line.textContent = e.message; });
  });
  optOut.addEventListener("click", function () {
    if (!window.confirm("确认客户要求不再接收营销消息？退订后将不能再给 TA 发券包、商品和群发。")) { return; }
    S().post(url("opt-out/"), { note: "客户在聊天中要求" }).then(render).catch(function (e) { line.textContent = e.message; });
  });
  // Any send in the sidebar may have used a unit of the week: read the count again shortly after.
  document.getElementById("app").addEventListener("click", function (event) {
    if (!customerId || event.target.tagName !== "BUTTON" || card.contains(event.target)) { return; }
    clearTimeout(timer); timer = setTimeout(load, 1200);
  });
  if (window.OmniSidebar && window.OmniSidebar.customerId) { start(window.OmniSidebar.customerId); }
  document.addEventListener("omni:customer", function (event) { start(event.detail.customerId); });
})();
