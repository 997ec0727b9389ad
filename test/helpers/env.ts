// What integration tests need from the machine. Under CI=true a missing
// requirement fails the test instead of skipping it.
import { execFileSync } from 'node:child_process';

export const inCI = process.env.CI === 'true';

export function missingRequirements(tools: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const t of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `needs ${t} on PATH`;
    }
  }
  return undefined;
}

/**
 * describe.skipIf(skip(...)) for integration suites: skips only outside CI,
 * and in CI throws so the run fails loudly.
 */
export function skipUnless(tools: string[] = []): boolean {
  const why = missingRequirements(tools);
  if (why && inCI) throw new Error(`integration test cannot run: ${why}`);
  return why !== undefined;
}
