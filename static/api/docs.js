// The API's documentation page (/api/v1/docs/): Redoc, vendored by
// drf-spectacular-sidecar, on the schema whose URL the page carries. A file, not an
// inline script, so the page keeps the site's Content-Security-Policy.
(function () {
  "use strict";
  var element = document.getElementById("api-docs");
  if (!element || !window.Redoc) {
    return;
  }
  window.Redoc.init(
    element.getAttribute("data-schema-url"),
    {
      // Search runs in a Web Worker built from a blob: URL, which the CSP forbids.
      disableSearch: true,
      expandResponses: "200,201",
      hideDownloadButton: false,
      pathInMiddlePanel: true,
      requiredPropsFirst: true,
    },
    element
  );
})();
