// The plugin process: stdin and environment in, result or error object out.
import { runPlugin } from './plugin.js';

const chunks: Buffer[] = [];
// VERSION may come with no stdin at all (a closed or a terminal one): do not wait for it.
if (process.env.CNI_COMMAND !== 'VERSION' || !process.stdin.isTTY) {
  for await (const c of process.stdin) chunks.push(c as Buffer);
}
const out = await runPlugin(process.env, Buffer.concat(chunks).toString('utf8'));
if (out.stderr) process.stderr.write(out.stderr);
process.stdout.write(out.stdout);
process.exitCode = out.exitCode;
