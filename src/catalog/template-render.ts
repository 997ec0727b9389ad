// Catalog templates: a Handlebars text rendered from the instances of some
// services, as consul-template does for Consul. Pure: the caller fetches the
// instances and hands them over as plain arrays; this file compiles, builds
// the context and renders, and says which services the template asked for
// that it was not given (so the caller can fetch and watch them too).
import Handlebars from 'handlebars';

/** One instance as `GET /v1/catalog/service/<name>` answers it. */
export interface CatalogInstance {
  name: string;
  service?: string;
  address: string;
  port: number;
  host: string;
  passing: boolean;
  health?: string;
  output?: string;
}

/** What a template sees of an instance. */
export interface TemplateInstance {
  name: string;
  address: string;
  port: number;
  host: string;
  passing: boolean;
}

export interface Rendered {
  text: string;
  /** Services `{{#service}}` asked for that were not in the data (rendered as empty). */
  missing: string[];
}

const toTemplate = (i: CatalogInstance): TemplateInstance => ({ name: i.name, address: i.address, port: i.port ?? 0, host: i.host, passing: i.passing });

/** The instances a name serves: the passing ones, or all when none passes (fail open, as control/health.ts serving()). */
export function servingOf<T extends { passing: boolean }>(instances: T[]): T[] {
  const passing = instances.filter((i) => i.passing);
  return passing.length > 0 ? passing : instances;
}

/**
 * The template's root context: with one --service `{service, instances}`
 * (every instance, each with its passing flag), with several
 * `{services: {name: instances}}`, with none `{}` (the helper alone).
 */
export function templateContext(selected: string[], data: ReadonlyMap<string, CatalogInstance[]>): Record<string, unknown> {
  const of = (name: string) => (data.get(name) ?? []).map(toTemplate);
  if (selected.length === 1) return { service: selected[0], instances: of(selected[0]) };
  if (selected.length > 1) return { services: Object.fromEntries(selected.map((s) => [s, of(s)])) };
  return {};
}

/**
 * Handlebars' parse errors run to several lines (the source line and a
 * caret): one line, `template LABEL: Parse error on line N: what`.
 */
export function templateError(label: string, err: unknown): Error {
  const e = err as Error & { lineNumber?: number };
  const msg = String(e?.message ?? err);
  const parse = /^Parse error on line (\d+):/.exec(msg);
  const lexical = /^Lexical error on line (\d+)\. (.*)/.exec(msg);
  let line: string;
  if (parse) line = `Parse error on line ${parse[1]}: ${msg.trimEnd().split('\n').at(-1)}`;
  else if (lexical) line = `Parse error on line ${lexical[1]}: ${lexical[2].split('\n')[0]}`;
  else if (typeof e?.lineNumber === 'number') line = `Parse error on line ${e.lineNumber}: ${msg.split('\n')[0].replace(/ - \d+:\d+$/, '')}`;
  else line = msg.split('\n')[0];
  return new Error(`template ${label}: ${line}`);
}

/** `{{#service "NAME"}}` names written as string literals in the template (found without rendering). */
function literalServices(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const n of node) literalServices(n, out);
  else if (node && typeof node === 'object') {
    const n = node as { type?: string; path?: { original?: unknown }; params?: Array<{ type?: string; value?: unknown }> };
    if ((n.type === 'BlockStatement' || n.type === 'MustacheStatement') && n.path?.original === 'service' && n.params?.[0]?.type === 'StringLiteral') {
      out.add(String(n.params[0].value));
    }
    for (const [k, v] of Object.entries(node)) if (k !== 'loc' && v && typeof v === 'object') literalServices(v, out);
  }
  return out;
}

export class CatalogTemplate {
  /** Services named as literals in `{{#service "..."}}`. */
  readonly named: string[];
  readonly #render: Handlebars.TemplateDelegate;
  /** The data of the render under way (renders are synchronous, so one slot will do). */
  #data: ReadonlyMap<string, CatalogInstance[]> = new Map();
  #missing = new Set<string>();

  /** Parses `text` (throws one line, templateError, when it does not). `label` names it in errors: the file. */
  constructor(text: string, readonly label: string) {
    const hb = Handlebars.create();
    let ast: hbs.AST.Program;
    try {
      ast = hb.parse(text);
    } catch (err) {
      throw templateError(label, err);
    }
    this.named = [...literalServices(ast, new Set())].sort();
    const self = this;
    hb.registerHelper('service', function (this: unknown, ...args: unknown[]) {
      const options = args.pop() as Handlebars.HelperOptions;
      const name = args[0];
      // `{{service}}` alone (no name, no block) is the context's own service name, which the helper's name would otherwise hide.
      if (args.length === 0 && typeof options.fn !== 'function') {
        const own = (this as { service?: unknown } | undefined)?.service;
        return typeof own === 'string' ? own : '';
      }
      if (typeof name !== 'string' || name === '') throw new Error('{{#service}} needs a service name, e.g. {{#service "web.blue.acme"}}');
      const all = self.#data.get(name);
      if (all === undefined) self.#missing.add(name);
      const list = options.hash.passing === false ? (all ?? []) : servingOf(all ?? []);
      if (list.length === 0) return options.inverse ? options.inverse(this) : '';
      // A block over the instances, with @index/@first/@last as #each gives them.
      return list
        .map((inst, i) => {
          const data = options.data ? Handlebars.createFrame(options.data) : {};
          Object.assign(data, { index: i, first: i === 0, last: i === list.length - 1 });
          return options.fn(toTemplate(inst), { data });
        })
        .join('');
    });
    this.#render = hb.compile(ast, { noEscape: true, strict: false });
  }

  /** Renders with these instances; `selected` are the --service names that make the root context. */
  render(selected: string[], data: ReadonlyMap<string, CatalogInstance[]>): Rendered {
    this.#data = data;
    this.#missing = new Set();
    try {
      const text = this.#render(templateContext(selected, data));
      return { text, missing: [...this.#missing].sort() };
    } catch (err) {
      throw templateError(this.label, err);
    } finally {
      this.#data = new Map();
    }
  }
}
