// What a product's team does once on Keyward, done over its HTTP API: an owner account, an
// application for the product, the product's return origin and branding, and a service key.

export interface HostSetUp {
  appId: string;
  serviceKey: string;
  owner: { email: string; password: string };
}

async function call<T>(
  keywardUrl: string,
  path: string,
  init: { method: string; body: unknown; cookie?: string },
): Promise<{ body: T; cookie: string }> {
  const res = await fetch(keywardUrl + path, {
    method: init.method,
    headers: {
      "content-type": "application/json",
      origin: keywardUrl,
      ...(init.cookie ? { cookie: init.cookie } : {}),
    },
    body: JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method} ${path}: ${res.status} ${text}`);
  const cookie = (res.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  return { body: JSON.parse(text) as T, cookie: cookie || (init.cookie ?? "") };
}

export async function bootstrapHost(
  keywardUrl: string,
  hostOrigin: string,
  options: { displayName?: string; accentColor?: string } = {},
): Promise<HostSetUp> {
  const owner = {
    email: `owner-${Date.now()}@example.com`,
    password: `example-${Math.random().toString(36).slice(2)}-passphrase`,
  };
  const signedUp = await call(keywardUrl, "/api/v1/auth/signup", {
    method: "POST",
    body: { ...owner, name: "Example owner" },
  });
  const session = signedUp.cookie;
  const app = await call<{ id: string }>(keywardUrl, "/api/v1/applications", {
    method: "POST",
    body: { name: "Example Host" },
    cookie: session,
  });
  await call(keywardUrl, `/api/v1/applications/${app.body.id}`, {
    method: "PATCH",
    body: {
      returnOrigins: [hostOrigin],
      branding: {
        displayName: options.displayName ?? "Example Host",
        accentColor: options.accentColor ?? "#0b7a3e",
      },
    },
    cookie: session,
  });
  const key = await call<{ key: string }>(
    keywardUrl,
    `/api/v1/applications/${app.body.id}/service-keys`,
    { method: "POST", body: { name: "example-host" }, cookie: session },
  );
  return { appId: app.body.id, serviceKey: key.body.key, owner };
}
