// The alert rule model. A rule set is plain data (it round-trips through the rules file and
// PUT /api/alert-rules); evaluation lives in evaluate.ts.

export type Severity = 'warning' | 'critical';

export type RuleKind =
  | 'cpu' | 'memory' | 'stopped' | 'unhealthy' | 'oom' | 'restart_loop'
  | 'agent_offline' | 'host_disk' | 'cpu_spike' | 'memory_spike' | 'watched';

export const RULE_KINDS: readonly RuleKind[] = [
  'cpu', 'memory', 'stopped', 'unhealthy', 'oom', 'restart_loop',
  'agent_offline', 'host_disk', 'cpu_spike', 'memory_spike', 'watched',
];

export interface AlertRule {
  /** Unique within the set; names the rule in alerts and cooldown keys. */
  id: string;
  kind: RuleKind;
  severity: Severity;
  /** The condition must hold this long before the alert fires (0 = at once). */
  forMs: number;
  /**
   * cpu: percent as `docker stats` shows it (100 = one core); memory/host_disk: percent;
   * cpu_spike/memory_spike: points between two samples; restart_loop: restarts in windowMs;
   * agent_offline: missed intervals. Unused by stopped/unhealthy/oom/watched.
   */
  threshold: number;
  /** restart_loop only: the sliding window. */
  windowMs: number;
  enabled: boolean;
  /** `restart`: autoheal every container this rule fires for (unhealthy, stopped and oom rules only). */
  action?: 'restart';
}

/** Per-container tuning chosen by name glob (and optionally host glob) in the rules file. */
export interface ContainerOverride {
  match: string;
  host?: string;
  cpuThreshold?: number;
  memoryThreshold?: number;
  /** false silences every container rule for matching containers. */
  alerts?: boolean;
  /** Autoheal opt-in by name (as the dockwatch.autoheal label); [] opts out. */
  autoheal?: ('unhealthy' | 'exited' | 'oom')[];
}

/** Containers that must exist and run; host is a glob ('*' = every host). */
export interface WatchEntry {
  host: string;
  containers: string[];
  /** 'env' for the WATCH_CONTAINERS entry: not part of the rules document. */
  source?: 'env';
}

export interface AlertRuleSet {
  rules: AlertRule[];
  overrides: ContainerOverride[];
  watch: WatchEntry[];
}

export interface DefaultRuleSettings {
  cpuThreshold?: number;
  memoryThreshold?: number;
  /** WATCH_CONTAINERS, already split on commas. */
  watchContainers?: string[];
}

/** Docker labels a container can carry to tune its own alerts. */
export const LABEL_CPU = 'dockwatch.cpu_threshold';
export const LABEL_MEMORY = 'dockwatch.memory_threshold';
export const LABEL_ALERTS = 'dockwatch.alerts';

const rule = (id: RuleKind, severity: Severity, forMs: number, threshold = 0, windowMs = 0): AlertRule =>
  ({ id, kind: id, severity, forMs, threshold, windowMs, enabled: true });

export function defaultRules(s: DefaultRuleSettings = {}): AlertRuleSet {
  return {
    rules: [
      rule('cpu', 'warning', 60_000, s.cpuThreshold ?? 90),
      rule('memory', 'warning', 60_000, s.memoryThreshold ?? 85),
      rule('stopped', 'critical', 0),
      rule('unhealthy', 'critical', 0),
      rule('oom', 'critical', 0),
      rule('restart_loop', 'critical', 0, 3, 5 * 60_000),
      rule('agent_offline', 'critical', 0, 3),
      rule('host_disk', 'warning', 60_000, 90),
      rule('cpu_spike', 'warning', 0, 40),
      rule('memory_spike', 'warning', 0, 20),
      rule('watched', 'critical', 0),
    ],
    overrides: [],
    watch: s.watchContainers && s.watchContainers.length > 0 ? [{ host: '*', containers: s.watchContainers, source: 'env' }] : [],
  };
}
