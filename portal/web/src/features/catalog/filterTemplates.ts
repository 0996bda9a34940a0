import type { Template } from '../../api/models';

export interface CatalogFilter {
  /** Free text, matched against name, description, category and tags. */
  query: string;
  /** A template must carry every selected tag. */
  tags: string[];
}

export function filterTemplates(templates: Template[], filter: CatalogFilter): Template[] {
  return templates.filter((t) => templateMatches(t, filter));
}

/** The template carries every tag and every word of the query (in any of its texts). */
export function templateMatches(t: Template, { query, tags }: CatalogFilter): boolean {
  const own = t.tags ?? [];
  if (!tags.every((tag) => own.includes(tag))) return false;
  const text = [t.displayName, t.name, t.description ?? '', t.category, ...own].join(' ').toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => text.includes(w));
}

export interface CategoryGroup {
  category: string;
  templates: Template[];
}

/** Templates by category, categories and templates in alphabetical order. */
export function groupByCategory(templates: Template[]): CategoryGroup[] {
  const groups = new Map<string, Template[]>();
  for (const t of templates) {
    const category = t.category || 'Other';
    groups.set(category, [...(groups.get(category) ?? []), t]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([category, list]) => ({ category, templates: list.sort((a, b) => a.displayName.localeCompare(b.displayName)) }));
}

/** Every tag, the most used first. */
export function tagsByUse(templates: Template[]): string[] {
  const counts = new Map<string, number>();
  for (const t of templates) for (const tag of t.tags ?? []) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  return [...counts.entries()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).map(([tag]) => tag);
}
