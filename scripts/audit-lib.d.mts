// Types of scripts/audit-lib.mjs (plain ESM, no build step) for the TypeScript test that imports it.
export type Severity = 'low' | 'moderate' | 'high' | 'critical';
export type Status = 'vulnerable' | 'explained' | 'not affected';

export interface LockEntry { version?: string; name?: string; dev?: boolean; devOptional?: boolean; optional?: boolean; link?: boolean; [k: string]: unknown }
export interface Lock { lockfileVersion?: number; packages: Record<string, LockEntry> }
export interface RuntimePackage { name: string; version: string; path: string }

export interface Advisory {
  id: string; cve?: string | null; package: string; severity: string; vulnerableRanges: string[];
  title: string; url: string; source: string; note?: string;
}
export interface Snapshot { reviewDate: string; reviewedPackages: string[]; advisories: Advisory[]; [k: string]: unknown }
export interface AuditException { advisory: string; package: string; versions?: string; paths?: string[]; reason: string; reviewed: string }
export interface ExceptionsDoc { exceptions: AuditException[]; [k: string]: unknown }

export interface Row {
  name: string; version: string; path: string; advisory: string; cve: string | null; severity: Severity;
  title: string; url: string; status: Status; reason?: string; reviewed?: string;
}
export interface Result {
  mode: 'offline' | 'npm-audit'; reviewDate?: string; packageCount: number; nameCount: number; namesWithEntries?: string[];
  rows: Row[]; unexplained: Row[]; unreviewed: string[]; unusedExceptions: AuditException[]; ok: boolean;
}

export const SEVERITIES: Severity[];
export function normalizeSeverity(s: unknown): Severity;
export function isFailingSeverity(s: unknown): boolean;
export function nameFromLockPath(path: string): string;
export function runtimePackages(lock: Lock): RuntimePackage[];
export function validateSnapshot(snapshot: unknown): void;
export function validateExceptions(doc: unknown): void;
export function findException(finding: Pick<Row, 'name' | 'version' | 'path' | 'advisory' | 'cve'>, exceptions: AuditException[]): AuditException | undefined;
export function matchSnapshot(pkgs: RuntimePackage[], snapshot: Snapshot, exceptions?: AuditException[]): Row[];
export function unreviewedNames(pkgs: RuntimePackage[], reviewedPackages: string[]): string[];
export function evaluateOffline(lock: Lock, snapshot: Snapshot, exceptionsDoc?: ExceptionsDoc): Result;
export function npmAuditAvailability(stdout: string): { available: true; report: { vulnerabilities: Record<string, unknown> } } | { available: false; reason: string };
export function evaluateNpmAudit(report: { vulnerabilities: Record<string, unknown> }, lock: Lock | undefined, exceptionsDoc?: ExceptionsDoc): Result;
export function formatTable(rows: Row[]): string;
