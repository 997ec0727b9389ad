// Catalog templates: the contexts, the {{#service}} block helper (passing
// filter, fail open, else), no HTML escaping, and parse errors in one line.
import { describe, expect, it } from 'vitest';
import { CatalogTemplate, servingOf, templateContext, type CatalogInstance } from '../../src/catalog/template-render.js';

const inst = (name: string, address: string, passing: boolean, port = 80): CatalogInstance => ({
  name, service: 'web.blue.acme', address, port, host: 'h1', passing, health: passing ? 'passing' : 'critical', output: 'x',
});
const web = [inst('web1', '10.1.0.5', true), inst('web2', '10.1.0.6', false), inst('web3', '10.1.0.7', true, 8080)];
const db = [inst('db1', '10.1.0.9', true, 5432)];
const data = new Map([['web.blue.acme', web], ['db.blue.acme', db]]);

describe('template contexts', () => {
  it('one --service: {service, instances} with every instance and its passing flag (and only the five fields)', () => {
    expect(templateContext(['web.blue.acme'], data)).toEqual({
      service: 'web.blue.acme',
      instances: [
        { name: 'web1', address: '10.1.0.5', port: 80, host: 'h1', passing: true },
        { name: 'web2', address: '10.1.0.6', port: 80, host: 'h1', passing: false },
        { name: 'web3', address: '10.1.0.7', port: 8080, host: 'h1', passing: true },
      ],
    });
  });

  it('several: {services: {name: instances}}; none: {}', () => {
    const ctx = templateContext(['web.blue.acme', 'db.blue.acme'], data) as { services: Record<string, unknown[]> };
    expect(Object.keys(ctx.services)).toEqual(['web.blue.acme', 'db.blue.acme']);
    expect(ctx.services['db.blue.acme']).toEqual([{ name: 'db1', address: '10.1.0.9', port: 5432, host: 'h1', passing: true }]);
    expect(templateContext([], data)).toEqual({});
  });

  it('renders the nginx upstream of the passing instances from the one-service context', () => {
    const t = new CatalogTemplate('upstream web { {{#each instances}}{{#if passing}}server {{address}}:{{port}};{{/if}}{{/each}} }', 'in.tpl');
    expect(t.render(['web.blue.acme'], data).text).toBe('upstream web { server 10.1.0.5:80;server 10.1.0.7:8080; }');
  });

  it('{{service}} alone is the context\'s service name (the block helper of that name does not hide it)', () => {
    const t = new CatalogTemplate('# {{service}}: {{instances.length}}', 'in.tpl');
    expect(t.render(['web.blue.acme'], data).text).toBe('# web.blue.acme: 3');
  });

  it('the several-services context is reachable by name', () => {
    const t = new CatalogTemplate('{{#each services}}{{@key}}={{#each this}}{{name}} {{/each}};{{/each}}', 'in.tpl');
    expect(t.render(['web.blue.acme', 'db.blue.acme'], data).text).toBe('web.blue.acme=web1 web2 web3 ;db.blue.acme=db1 ;');
  });
});

describe('the service block helper', () => {
  it('iterates the passing instances, with @index and @last', () => {
    const t = new CatalogTemplate('{{#service "web.blue.acme"}}{{@index}}:{{name}}@{{address}}:{{port}}{{#unless @last}},{{/unless}}{{/service}}', 'in.tpl');
    expect(t.render([], data)).toEqual({ text: '0:web1@10.1.0.5:80,1:web3@10.1.0.7:8080', missing: [] });
  });

  it('passing=false gives every instance', () => {
    const t = new CatalogTemplate('{{#service "web.blue.acme" passing=false}}{{name}}={{passing}} {{/service}}', 'in.tpl');
    expect(t.render([], data).text).toBe('web1=true web2=false web3=true ');
  });

  it('fails open: when no instance passes, all of them', () => {
    const down = new Map([['web.blue.acme', web.map((i) => ({ ...i, passing: false }))]]);
    const t = new CatalogTemplate('{{#service "web.blue.acme"}}{{name}} {{/service}}', 'in.tpl');
    expect(t.render([], down).text).toBe('web1 web2 web3 ');
    expect(servingOf([{ passing: false }, { passing: true }])).toEqual([{ passing: true }]);
  });

  it('takes the else branch for a service with no instances', () => {
    const t = new CatalogTemplate('{{#service "web.blue.acme"}}server {{address}};{{else}}server 127.0.0.1:1 down;{{/service}}', 'in.tpl');
    expect(t.render([], new Map([['web.blue.acme', []]])).text).toBe('server 127.0.0.1:1 down;');
  });

  it('names the services it was asked for but not given (rendered empty), and finds literal names without rendering', () => {
    const t = new CatalogTemplate('{{#if x}}{{#service "db.blue.acme"}}{{name}}{{/service}}{{/if}}{{#service "api.blue.acme"}}{{name}}{{else}}none{{/service}}', 'in.tpl');
    expect(t.named).toEqual(['api.blue.acme', 'db.blue.acme']);
    expect(t.render([], new Map())).toEqual({ text: 'none', missing: ['api.blue.acme'] });
  });

  it('without a name: a one-line error naming the template', () => {
    const t = new CatalogTemplate('{{#service}}x{{/service}}', 'in.tpl');
    expect(() => t.render([], data)).toThrow(/^template in\.tpl: \{\{#service\}\} needs a service name/);
  });
});

describe('rendering', () => {
  it('does not HTML-escape', () => {
    const odd = new Map([['web.blue.acme', [{ ...web[0], name: 'a&b<c>"d\'' }]]]);
    const t = new CatalogTemplate('{{#each instances}}{{name}}{{/each}}', 'in.tpl');
    expect(t.render(['web.blue.acme'], odd).text).toBe('a&b<c>"d\'');
  });

  it('a missing field renders empty (strict off)', () => {
    expect(new CatalogTemplate('[{{nothing.here}}]', 'in.tpl').render([], data).text).toBe('[]');
  });

  it.each([
    ['an unclosed block', 'line one\nline two {{#if x}}\nthree', 3, /Expecting .*got 'EOF'$/],
    ['a broken mustache', 'a\nb {{foo bar=}}\n', 2, /Expecting .*got 'CLOSE'$/],
    ['a mismatched end', 'a\n\n{{#if x}}b{{/each}}', 3, /if doesn't match each$/],
    ['lexical garbage', 'a\n{{!-- never closed', 2, /Unrecognized text\.$/],
  ])('a parse error (%s) is one line with the line number', (_what, text, line, tail) => {
    let err: Error | undefined;
    try {
      new CatalogTemplate(text, 'site.tpl');
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(new RegExp(`^template site\\.tpl: Parse error on line ${line}: `));
    expect(err?.message).toMatch(tail);
    expect(err?.message).not.toContain('\n');
  });
});
