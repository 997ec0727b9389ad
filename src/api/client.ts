// A client of the daemon's API, used by the CLI and the lab.
import { request } from 'node:http';
import { unixPath } from './server.js';

export const DEFAULT_API = 'unix:/run/weft/weft.sock';

/** The header every catalog answer carries: the index a blocking query passes back as `?index=`. */
export const INDEX_HEADER = 'x-weft-index';

/** A catalog answer: its status, its index (X-Weft-Index) and its JSON body. */
export interface Indexed<T> {
  status: number;
  index: number;
  body: T;
}

/** A health check on a create or update: a spec (`tcp:80`, `http:80/health`, `exec:CMD`), or null on an update to remove it. */
export interface CheckFields {
  check?: string | null;
  /** A duration (`5s`, `500ms`) or a number of ms. */
  checkInterval?: string | number;
  checkTimeout?: string | number;
}

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
  updateEndpoint<T = unknown>(name: string, net: string, change: { aliases?: string[]; group?: string | null; port?: number } & CheckFields, tenant?: string): Promise<T> {
    const q = new URLSearchParams({ net, ...(tenant === undefined ? {} : { tenant }) });
    return this.patch<T>(`/v1/endpoints/${encodeURIComponent(name)}?${q}`, change);
  }

  /** PATCH /v1/groups/NAME: changes a group's policies (`policies` replaces the list, then add/remove apply) or isolation. */
  updateGroup<T = unknown>(
    name: string,
    net: string,
    change: { policies?: string[]; addPolicies?: string[]; removePolicies?: string[]; isolate?: 'in' | 'out' | 'both' | 'none' } & CheckFields,
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

  /**
   * GET of a catalog call, blocking when `index` is given: the daemon holds
   * the request until the answer's index passes it or `waitMs` ends. `signal`
   * abandons the request (a watch that stops). Rejects with ApiError on >= 400.
   */
  getIndexed<T = unknown>(path: string, opts: { index?: number; waitMs?: number; signal?: AbortSignal } = {}): Promise<Indexed<T>> {
    const params = new URLSearchParams();
    if (opts.index !== undefined) params.set('index', String(opts.index));
    if (opts.waitMs !== undefined) params.set('wait', `${Math.round(opts.waitMs)}ms`);
    const sep = path.includes('?') ? '&' : '?';
    const full = params.size > 0 ? `${path}${sep}${params}` : path;
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.#socket, method: 'GET', path: full, signal: opts.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = undefined;
          }
          if (status >= 400) {
            const e = body as { error?: string; code?: string } | undefined;
            return reject(new ApiError(e?.error ?? `HTTP ${status}`, status, typeof e?.code === 'string' ? e.code : undefined));
          }
          const index = Number(res.headers[INDEX_HEADER] ?? 0);
          resolve({ status, index: Number.isSafeInteger(index) && index >= 0 ? index : 0, body: body as T });
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') reject(err);
        else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ApiError(`no weft daemon at ${this.api} (start one with 'weft daemon', or set --api / WEFT_API)`, 503));
        else reject(new ApiError(`cannot reach the daemon at ${this.api}: ${err.message}`, 503));
      });
      req.end();
    });
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
