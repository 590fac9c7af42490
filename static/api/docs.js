// The API's documentation page (/api/v1/docs/): Swagger UI, vendored by
// drf-spectacular-sidecar, on the schema whose URL the page carries. A file, not an
// inline script, so the page keeps the site's Content-Security-Policy; nothing is
// fetched from elsewhere (no validator badge, no CDN).
(function () {
  "use strict";
  var element = document.getElementById("api-docs");
  if (!element || !window.SwaggerUIBundle) {
    return;
  }
  window.SwaggerUIBundle({
    url: element.getAttribute("data-schema-url"),
    domNode: element,
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayOperationId: false,
    persistAuthorization: false,
    tryItOutEnabled: false,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
