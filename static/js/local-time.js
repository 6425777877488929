// Times on the public pages in the guest's own time zone (a file, not an inline
// script: the Content-Security-Policy allows scripts from this site only).
document.querySelectorAll("[data-local-time]").forEach(function (t) {
  var d = new Date(t.getAttribute("datetime"));
  var month = t.getAttribute("data-local-time") === "long" ? "long" : "short";
  if (!isNaN(d)) t.textContent = d.toLocaleString("ru-RU", { day: "numeric", month: month, hour: "2-digit", minute: "2-digit" });
});
