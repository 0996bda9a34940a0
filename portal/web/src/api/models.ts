// The shapes of the portal API as the UI uses them, derived from types.ts,
// which `make generate-ui-types` generates from portal/openapi.json (the
// contract), so a field renamed or retyped there breaks the build here.
//
// Two kinds of knowledge are added on top of the contract, each marked:
// - Sent<…>: fields the portal always sends, which openapi.json does not
//   (yet) list as required;
// - the objects the contract leaves open ("type: object" with no
//   properties: Template.dataPolicy, Me.quota and .usage,
//   Quota.limits, Sync.conditions, a change's spec), written here from the
//   handlers' views.
import type { components, paths } from './types';

type Schemas = components['schemas'];

/** T whose fields K are always present in the portal's answers. */
type Sent<T, K extends keyof T> = Omit<T, K> & Required<Pick<T, K>>;

/** The JSON body of a path's answer with the given status. */
type Answer<P extends keyof paths, M extends keyof paths[P], S extends number> = paths[P][M] extends {
  responses: { [status in S]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

export type ErrorCode = Schemas['Error']['error']['code'];

export interface ErrorBody {
  error: Omit<Schemas['Error']['error'], 'code'> & { code: ErrorCode | string };
}

export type Login = Schemas['Login'];
export type Tokens = Schemas['Tokens'];
export type AuthProviders = Answer<'/auth/providers', 'get', 200>;

export type StartProgress = Sent<Schemas['StartProgress'], 'kind' | 'step' | 'requestedAt'>;
export type StartStep = StartProgress['step'];

export type Session = Sent<Omit<Schemas['Session'], 'start'>, 'name' | 'user' | 'template' | 'state' | 'phase' | 'createdAt'> & {
  start?: StartProgress;
};
export type SessionState = Session['state'];
export type SessionPhase = Session['phase'];

export type CreateSession = Schemas['CreateSession'];

export type StreamSpec = Schemas['StreamSpec'];
/**
 * WebsockifyVNC: the portal's own noVNC shows the stream; any other: the
 * pod serves its own web client, framed by the viewer (NoVNC: one speaking
 * standard RFB over WebSocket).
 */
export type StreamProtocol = StreamSpec['protocol'];

/** What may cross between the user's device and the session (Template.dataPolicy, open in the contract). */
export interface DataPolicy {
  /** Paste from the device into the session; absent means allowed. */
  clipboardIn?: boolean;
  /** Copy from the session to the device; absent means allowed. */
  clipboardOut?: boolean;
  fileUpload?: boolean;
  fileDownload?: boolean;
  audio?: boolean;
}

export type Template = Sent<Omit<Schemas['Template'], 'stream' | 'dataPolicy'>, 'name' | 'displayName' | 'category'> & {
  stream: StreamSpec;
  dataPolicy: DataPolicy;
};

/** A quota's limits (open in the contract); an absent limit is unlimited. */
export interface QuotaLimits {
  maxSessions?: number;
  maxRunningSessions?: number;
  memory?: string;
  cpu?: string;
  homeStorage?: string;
  maxSessionDuration?: string;
  idleTimeout?: string;
}

export type Role = NonNullable<Schemas['AdminUser']['role']>;

export type Me = Sent<Omit<Schemas['Me'], 'role' | 'groups' | 'quota' | 'usage'>, 'username'> & {
  role: Role | string;
  // a user in no group is sent null
  groups: string[] | null;
  // open in the contract
  quota: { name: string; reason?: string; limits: QuotaLimits };
  usage: { sessions: number; runningSessions: number; memory: string; cpu: string };
};

export type APIToken = Sent<Schemas['APIToken'], 'id' | 'name' | 'user' | 'createdAt'>;
export type NewAPIToken = Schemas['NewAPIToken'];
export type CreatedAPIToken = APIToken & Required<Pick<Schemas['CreatedAPIToken'], 'token'>>;

export type AdminUser = Sent<Schemas['AdminUser'], 'username' | 'role' | 'groups' | 'source' | 'disabled' | 'createdAt' | 'activeSessions'>;
export type UserSource = AdminUser['source'];
export type NewUser = Schemas['NewUser'];
export type UpdateUser = Schemas['UpdateUser'];

export type Usage = Required<Schemas['Usage']>;
export type DayUsage = Required<NonNullable<Schemas['Analytics']['days']>[number]>;
export type Analytics = Required<Omit<Schemas['Analytics'], 'days' | 'templates' | 'users' | 'hibernation'>> & {
  days: DayUsage[];
  templates: Usage[];
  users: Usage[];
  hibernation: Required<NonNullable<Schemas['Analytics']['hibernation']>>;
};

export type Quota = Sent<Omit<Schemas['Quota'], 'limits'>, 'name' | 'default' | 'users' | 'groups' | 'createdAt'> & {
  limits: QuotaLimits;
};

/** A quota's spec as the CRD has it, the body of a quota change. */
export interface QuotaSpec {
  default?: boolean;
  users?: string[];
  groups?: string[];
  limits: QuotaLimits;
}

/** A condition of a GitSync (Sync.conditions' items are open in the contract). */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  since: string;
}

type SyncSchema = Schemas['Sync'];
export type InventoryEntry = Required<NonNullable<SyncSchema['inventory']>[number]>;
type DriftSchema = NonNullable<SyncSchema['drift']>[number];
export type Drift = Sent<DriftSchema, 'id' | 'detectedAt' | 'corrected'>;

export type Sync = Sent<
  Omit<SyncSchema, 'inventory' | 'drift' | 'conditions'>,
  'name' | 'url' | 'ref' | 'driftMode' | 'ready' | 'suspended'
> & {
  inventory: InventoryEntry[];
  drift: Drift[];
  conditions: Condition[];
};

export type ReconcileRequested = Required<Omit<Answer<'/admin/sync/{name}/reconcile', 'post', 202>, 'sync'>> & { sync: Sync };

/** A proposed change to a Template or Quota: the whole new spec (open in the contract) and why. */
export type Change<Spec> = Omit<Schemas['Change'], 'spec'> & { spec: Spec };

export type ChangeResult = Sent<Schemas['ChangeResult'], 'mode'>;

/** 200 to a change: Git already holds it (the contract gives this answer no body). */
export interface ChangeUnchanged {
  unchanged: true;
  message: string;
}

export type AuditEvent = Required<Schemas['AuditEvent']>;

// plugins
export type PluginType = Schemas['CatalogPlugin']['type'];
export type PluginRisk = Schemas['CatalogPermission']['risk'];
export type PluginRepository = Schemas['PluginRepository'];
export type CatalogPlugin = Schemas['CatalogPlugin'];
export type PluginPermission = Schemas['PluginPermission'];
export type PluginProposal = Schemas['PluginProposal'];
export type PluginDelivery = Schemas['PluginDelivery'];
export type InstalledPlugin = Schemas['InstalledPlugin'];
export type PluginTheme = Schemas['PluginTheme'];
export type PluginInstall = Schemas['PluginInstall'];
export type PluginCatalog = Answer<'/plugins/catalog', 'get', 200>;
