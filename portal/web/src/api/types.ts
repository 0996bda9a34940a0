// The shapes of the portal API, written from portal/openapi.json (the
// contract) and the handlers' views where the contract leaves an object
// open (Template.stream, Template.dataPolicy, Me.quota, Quota.limits).

export type ErrorCode =
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'invalid_request'
  | 'quota_exceeded'
  | 'conflict'
  | 'rate_limited'
  | 'internal'
  | 'not_running'
  | 'upstream_unavailable'
  // beyond the contract's enum: write-back not configured (503), and the
  // stream proxy of a portal that is restarting (503)
  | 'unavailable'
  | 'shutting_down';

export interface ErrorBody {
  error: { code: ErrorCode | string; message: string; fields?: Record<string, string> };
}

export interface Login {
  username: string;
  password: string;
}

export interface Tokens {
  accessToken: string;
  accessExpiresAt: string;
  refreshToken: string;
  refreshExpiresAt: string;
}

export interface AuthProviders {
  local: boolean;
  oidc: { enabled: boolean; name: string };
}

export type SessionState = 'running' | 'hibernated' | 'terminated';
export type SessionPhase = '' | 'Pending' | 'Running' | 'Hibernated' | 'Failed' | 'Terminated';
export type StartStep = 'requested' | 'scheduled' | 'image-ready' | 'stream-ready';

/** Progress of the latest launch or wake. */
export interface StartProgress {
  kind: 'Launch' | 'Wake';
  step: StartStep;
  requestedAt: string;
  scheduledAt?: string;
  imageReadyAt?: string;
  streamReadyAt?: string;
}

export interface Session {
  name: string;
  user: string;
  template: string;
  state: SessionState;
  phase: SessionPhase;
  /** Reason of the Ready condition, e.g. QuotaExceeded, ImageCannotStart. */
  reason?: string;
  message?: string;
  url?: string;
  createdAt: string;
  lastActivity?: string;
  idleDeadline?: string;
  expiresAt?: string;
  resources?: Record<string, string>;
  start?: StartProgress;
}

export interface CreateSession {
  template: string;
  resources?: { memory?: string; cpu?: string };
}

export type StreamProtocol = 'KasmVNC' | 'Selkies' | 'WebsockifyVNC';

export interface StreamSpec {
  protocol: StreamProtocol;
  port: number;
  path?: string;
}

/** What may cross between the user's device and the session. */
export interface DataPolicy {
  /** Paste from the device into the session; absent means allowed. */
  clipboardIn?: boolean;
  /** Copy from the session to the device; absent means allowed. */
  clipboardOut?: boolean;
  fileUpload?: boolean;
  fileDownload?: boolean;
  audio?: boolean;
}

export interface Template {
  name: string;
  displayName: string;
  description?: string;
  category: string;
  icon?: string;
  tags?: string[];
  stream: StreamSpec;
  resources?: { memory?: string; cpu?: string };
  dataPolicy: DataPolicy;
}

/** A quota's limits; an absent limit is unlimited. */
export interface QuotaLimits {
  maxSessions?: number;
  maxRunningSessions?: number;
  memory?: string;
  cpu?: string;
  homeStorage?: string;
  maxSessionDuration?: string;
  idleTimeout?: string;
}

export type Role = 'user' | 'admin';

export interface Me {
  username: string;
  role: Role | string;
  groups: string[] | null;
  quota: { name: string; reason?: string; limits: QuotaLimits };
  usage: { sessions: number; runningSessions: number; memory: string; cpu: string };
}

export interface APIToken {
  id: string;
  name: string;
  user: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
  revokedAt?: string;
}

export interface NewAPIToken {
  name: string;
  /** 0: never expires. */
  expiresInDays?: number;
}

export interface CreatedAPIToken extends APIToken {
  /** ssp_…; shown this once. */
  token: string;
}

export type UserSource = 'local' | 'oidc' | 'service';

export interface AdminUser {
  username: string;
  display?: string;
  email?: string;
  role: Role;
  groups: string[];
  source: UserSource;
  disabled: boolean;
  createdAt: string;
  lastLoginAt?: string;
  quota?: string;
  activeSessions: number;
}

export interface NewUser {
  username: string;
  display?: string;
  email?: string;
  password?: string;
  role?: Role;
  groups?: string[];
  /** No password; API tokens only. */
  serviceAccount?: boolean;
}

/** Only the fields given change. */
export interface UpdateUser {
  role?: Role;
  groups?: string[];
  disabled?: boolean;
  password?: string;
}

export interface Usage {
  name: string;
  sessions: number;
  activeHours: number;
}

export interface DayUsage {
  date: string;
  started: number;
  users: number;
  sessions: number;
}

export interface Analytics {
  since: string;
  days: DayUsage[];
  templates: Usage[];
  users: Usage[];
  hibernation: {
    hibernations: number;
    hibernatedHours: number;
    memoryGiBHours: number;
    cpuCoreHours: number;
  };
}

export interface Quota {
  name: string;
  default: boolean;
  users: string[];
  groups: string[];
  limits: QuotaLimits;
  createdAt: string;
}

/** A quota's spec as the CRD has it, the body of a quota change. */
export interface QuotaSpec {
  default?: boolean;
  users?: string[];
  groups?: string[];
  limits: QuotaLimits;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  since: string;
}

export interface InventoryEntry {
  kind: string;
  name: string;
  id: string;
}

export interface Drift {
  id: string;
  fields?: string[];
  manager?: string;
  detectedAt: string;
  corrected: boolean;
}

export interface Sync {
  name: string;
  url: string;
  ref: string;
  path?: string;
  driftMode: string;
  ready: 'True' | 'False' | 'Unknown' | string;
  reason?: string;
  message?: string;
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  lastHandledReconcileAt?: string;
  suspended: boolean;
  inventory: InventoryEntry[];
  drift: Drift[];
  conditions: Condition[];
}

export interface ReconcileRequested {
  requestedAt: string;
  sync: Sync;
}

/** A proposed change to a Template or Quota: the whole new spec and why. */
export interface Change<Spec> {
  spec: Spec;
  /** Titles the pull request; at most 200 characters. */
  reason: string;
}

export interface ChangeResult {
  mode: 'pull-request' | 'commit';
  branch?: string;
  commit?: string;
  /** The pull request. */
  url?: string;
  number?: number;
  file?: string;
  changes?: string[];
  warnings?: string[];
}

/** 200 to a change: Git already holds it. */
export interface ChangeUnchanged {
  unchanged: true;
  message: string;
}

export interface AuditEvent {
  ID: number;
  At: string;
  Actor: string;
  Action: string;
  Target: string;
  RemoteAddr: string;
  Detail: string;
}
