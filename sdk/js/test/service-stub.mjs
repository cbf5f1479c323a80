// A stand-in for the service's SDK routes on 127.0.0.1 (a real HTTP server on a free port):
// serves one SDK document with an ETag and records every exposure and event it is sent.
// `script` answers the next POSTs with statuses of the test's choosing ("503", "429:1", "400").
import { createServer } from "node:http";

export async function startServiceStub(document) {
  const stub = {
    document, etag: '"v1"', exposures: [], events: [], posts: [], configRequests: [], script: [],
    url: "",
    close: () => new Promise((resolve) => server.close(resolve)),
  };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      if (request.method === "GET" && request.url === "/api/v1/sdk/config") {
        stub.configRequests.push(request.headers["if-none-match"] ?? null);
        if (request.headers["if-none-match"] === stub.etag) {
          response.writeHead(304).end();
          return;
        }
        response.writeHead(200, { "Content-Type": "application/json", ETag: stub.etag });
        response.end(JSON.stringify(stub.document));
        return;
      }
      const kind = request.url.split("/").pop();
      const action = stub.script.shift() ?? "ok";
      stub.posts.push({ kind, action, at: Date.now() });
      if (action !== "ok") {
        const [status, retryAfter] = action.split(":");
        response.writeHead(Number(status), retryAfter ? { "Retry-After": retryAfter } : {});
        response.end('{"error": {"code": "x", "message": "scripted"}}');
        return;
      }
      const items = JSON.parse(Buffer.concat(chunks).toString())[kind];
      stub[kind].push(...items);
      response.writeHead(202, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ accepted: items.length, duplicates: 0, rejected: [] }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  stub.url = `http://127.0.0.1:${server.address().port}`;
  return stub;
}

export const DOCUMENT = {
  version: 7,
  experiments: [
    {
      key: "summary-tone", seed: "summary-tone", status: "running", control: "control", traffic: 1.0,
      targeting: { country: { in: ["DE", "FR"] } }, layer: null, layer_range: null, winner: null,
      variants: [
        { key: "control", weight: 0.5, config: { tone: "neutral" },
          prompt: { name: "summarize", version: 3, template: "Summarize: {{ text }}", model: "m", params: {} } },
        { key: "friendly", weight: 0.5, config: { tone: "friendly" }, prompt: null },
      ],
    },
    {
      key: "shipped", seed: "shipped", status: "concluded", control: "control", traffic: 1.0, winner: "b",
      variants: [{ key: "control", weight: 0.5 }, { key: "b", weight: 0.5, config: { size: 2 } }],
    },
  ],
  prompts: {},
};
