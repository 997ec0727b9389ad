// A client of the daemon's API, used by the CLI and the lab.
import { request } from 'node:http';
import { unixPath } from './server.js';

export const DEFAULT_API = 'unix:/run/weft/weft.sock';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The daemon's error code (WeftError.code), when it sent one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

export class ApiClient {
  readonly #socket: string;

  constructor(readonly api: string = DEFAULT_API) {
    this.#socket = unixPath(api);
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
  post<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }
  put<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }
  patch<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PATCH', path, body);
  }
  delete<T = unknown>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /** PATCH /v1/endpoints/NAME: changes an endpoint's aliases, group or SRV port (fields not given stay). */
  updateEndpoint<T = unknown>(name: string, net: string, change: { aliases?: string[]; group?: string | null; port?: number }, tenant?: string): Promise<T> {
    const q = new URLSearchParams({ net, ...(tenant === undefined ? {} : { tenant }) });
    return this.patch<T>(`/v1/endpoints/${encodeURIComponent(name)}?${q}`, change);
  }

  /** PATCH /v1/groups/NAME: changes a group's policies (`policies` replaces the list, then add/remove apply) or isolation. */
  updateGroup<T = unknown>(
    name: string,
    net: string,
    change: { policies?: string[]; addPolicies?: string[]; removePolicies?: string[]; isolate?: 'in' | 'out' | 'both' | 'none' },
    tenant?: string,
  ): Promise<T> {
    return this.patch<T>(`/v1/groups/${encodeURIComponent(name)}?${tenantQuery(tenant, { net })}`, change);
  }

  /** POST /v1/policies/NAME/rules: adds a rule to a policy, or replaces the rule with its id. */
  addPolicyRule<T = unknown>(policy: string, rule: Record<string, unknown>, tenant?: string): Promise<T> {
    return this.post<T>(`/v1/policies/${encodeURIComponent(policy)}/rules${q(tenantQuery(tenant))}`, rule);
  }

  /** DELETE /v1/policies/NAME/rules/ID. */
  removePolicyRule<T = unknown>(policy: string, id: string, tenant?: string): Promise<T> {
    return this.delete<T>(`/v1/policies/${encodeURIComponent(policy)}/rules/${encodeURIComponent(id)}${q(tenantQuery(tenant))}`);
  }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.#socket, method, path, headers: text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = raw;
            try {
              parsed = JSON.parse(raw);
            } catch {
              /* metrics and errors from elsewhere are plain text */
            }
            if ((res.statusCode ?? 500) >= 400) {
              const body = parsed as { error?: string; code?: string } | undefined;
              reject(new ApiError(body?.error ?? `HTTP ${res.statusCode}`, res.statusCode ?? 500, typeof body?.code === 'string' ? body.code : undefined));
            } else {
              resolve(parsed as T);
            }
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new ApiError(`no weft daemon at ${this.api} (start one with 'weft daemon', or set --api / WEFT_API)`, 503));
        } else {
          reject(new ApiError(`cannot reach the daemon at ${this.api}: ${err.message}`, 503));
        }
      });
      if (text) req.write(text);
      req.end();
    });
  }
}

/** `k=v&...` of the parameters given, with `tenant` when it is. */
const tenantQuery = (tenant?: string, more: Record<string, string> = {}) => new URLSearchParams({ ...more, ...(tenant === undefined ? {} : { tenant }) }).toString();
const q = (query: string) => (query ? `?${query}` : '');
