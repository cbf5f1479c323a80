// /docs: Swagger UI 5 (reads OpenAPI 3.1) on the service's own /openapi.json, all served locally.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: document.getElementById("ui").dataset.url,
    dom_id: "#ui",
    validatorUrl: null,
    deepLinking: true,
  });
});
