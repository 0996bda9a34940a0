import type { DataPolicy, StreamProtocol, Template } from '../../../api/models';

/**
 * The recommended template categories (catalog.Recommended in Go; a test
 * keeps the two equal). Any other name is accepted; validate warns about it.
 */
export const categories = [
  'Web Browsers',
  'Development',
  'Office',
  'Graphics',
  '3D',
  'Media',
  'Utilities',
  'Desktops',
  'Communication',
  'Education',
  'Science',
  'Games',
];

export const protocols: StreamProtocol[] = ['WebsockifyVNC', 'NoVNC', 'KasmVNC', 'Selkies'];

/**
 * The part of a Template's spec the portal shows, as the CRD names it.
 * A change sends these fields; the portal merges them into the spec Git
 * has, so what is not here (image, ports, env…) keeps its value.
 */
export interface EditableTemplateSpec {
  displayName: string;
  description: string;
  category: string;
  icon?: string;
  tags: string[];
  defaultResources: { memory?: string | null; cpu?: string | null };
  stream: { protocol: StreamProtocol; port: number; path?: string };
  dataPolicy: Required<Pick<DataPolicy, 'clipboardIn' | 'clipboardOut'>> & Pick<DataPolicy, 'fileUpload' | 'fileDownload' | 'audio'>;
}

export function specOf(t: Template): EditableTemplateSpec {
  return {
    displayName: t.displayName,
    description: t.description ?? '',
    category: t.category,
    icon: t.icon,
    tags: t.tags ?? [],
    defaultResources: { memory: t.resources?.memory, cpu: t.resources?.cpu },
    stream: { ...t.stream },
    dataPolicy: {
      clipboardIn: t.dataPolicy?.clipboardIn !== false,
      clipboardOut: t.dataPolicy?.clipboardOut !== false,
      fileUpload: Boolean(t.dataPolicy?.fileUpload),
      fileDownload: Boolean(t.dataPolicy?.fileDownload),
      audio: Boolean(t.dataPolicy?.audio),
    },
  };
}

/** The spec to send: empty optional fields left out or cleared. */
export function toChange(spec: EditableTemplateSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { ...spec };
  if (!spec.icon) delete out.icon;
  // an emptied resource is cleared (null), not kept
  out.defaultResources = { memory: spec.defaultResources.memory || null, cpu: spec.defaultResources.cpu || null };
  return out;
}

/** Form field → the API server's field path in its errors. */
export const fieldPaths: Record<string, string> = {
  displayName: 'spec.displayName',
  description: 'spec.description',
  category: 'spec.category',
  icon: 'spec.icon',
  tags: 'spec.tags',
  memory: 'spec.defaultResources.memory',
  cpu: 'spec.defaultResources.cpu',
  protocol: 'spec.stream.protocol',
};
