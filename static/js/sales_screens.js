// The sales office's screens.
//   data-fullscreen="#id"   on a button: show that element full screen (the wall TV)
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-fullscreen]") : null;
    if (!button) {
      return;
    }
    var target = document.querySelector(button.getAttribute("data-fullscreen"));
    if (!target || !target.requestFullscreen) {
      return;
    }
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else {
      target.requestFullscreen();
    }
  });
})();
// data-scroll-shadow   on a wrapper: its first child scrolls sideways; the wrapper gets
//                      data-more-left / data-more-right while there is more to see
(function () {
  "use strict";
  function update(wrapper) {
    var box = wrapper.firstElementChild;
    if (!box) {
      return;
    }
    wrapper.toggleAttribute("data-more-left", box.scrollLeft > 2);
    wrapper.toggleAttribute(
      "data-more-right",
      box.scrollLeft + box.clientWidth < box.scrollWidth - 2
    );
  }
  function init() {
    document.querySelectorAll("[data-scroll-shadow]").forEach(function (wrapper) {
      var box = wrapper.firstElementChild;
      if (!box) {
        return;
      }
      box.addEventListener("scroll", function () { update(wrapper); }, { passive: true });
      window.addEventListener("resize", function () { update(wrapper); });
      update(wrapper);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
