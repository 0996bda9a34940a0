import AppsIcon from '@mui/icons-material/Apps';
import SearchOffIcon from '@mui/icons-material/SearchOff';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Typography from '@mui/material/Typography';
import { useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { errorMessage } from '../../api/errors';
import { launchSession } from '../../api/sessions';
import { listTemplates } from '../../api/templates';
import type { Template } from '../../api/models';
import { useAuth } from '../../auth/AuthContext';
import { EmptyState } from '../../components/EmptyState';
import { PageHeader } from '../../components/PageHeader';
import { CardGridSkeleton } from '../../components/PageSkeleton';
import { ResourceView } from '../../components/ResourceView';
import { useResource } from '../../hooks/useResource';
import { isQuotaError, quotaMessage } from '../sessions/quotaMessage';
import { CatalogFilters } from './CatalogFilters';
import { filterTemplates, groupByCategory, tagsByUse, type CatalogFilter } from './filterTemplates';
import { TemplateCard } from './TemplateCard';

interface LaunchFailure {
  template: Template;
  error: unknown;
}

export default function CatalogPage() {
  const templates = useResource((signal) => listTemplates(signal), []);
  const { reload: reloadMe } = useAuth();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const filter: CatalogFilter = { query: params.get('q') ?? '', tags: params.getAll('tag') };
  const [launching, setLaunching] = useState<string>();
  const [failure, setFailure] = useState<LaunchFailure>();
  const failureRef = useRef<HTMLDivElement>(null);

  const setFilter = (f: CatalogFilter) => {
    const next = new URLSearchParams();
    if (f.query) next.set('q', f.query);
    f.tags.forEach((t) => next.append('tag', t));
    setParams(next, { replace: true });
  };

  const all = templates.data ?? [];
  const tags = useMemo(() => tagsByUse(all), [all]);
  const groups = groupByCategory(filterTemplates(all, filter));

  const launch = async (t: Template) => {
    setLaunching(t.name);
    setFailure(undefined);
    try {
      const session = await launchSession({ template: t.name });
      void reloadMe();
      navigate(`/session/${encodeURIComponent(session.name)}`);
    } catch (error) {
      setFailure({ template: t, error });
      setLaunching(undefined);
      // the message is above the cards: bring it into view
      requestAnimationFrame(() => failureRef.current?.focus());
    }
  };

  return (
    <>
      <PageHeader title="Catalog" subtitle="Apps you can launch in your browser. Each runs in its own container with your home folder." />
      {failure && (
        <Alert
          ref={failureRef}
          tabIndex={-1}
          severity={isQuotaError(failure.error) ? 'warning' : 'error'}
          onClose={() => setFailure(undefined)}
          sx={{ mb: 3 }}
          data-testid="launch-error"
          action={
            isQuotaError(failure.error) && (
              <Button color="inherit" size="small" component={Link} to="/dashboard">
                My sessions
              </Button>
            )
          }
        >
          <AlertTitle>{isQuotaError(failure.error) ? 'Quota reached' : `${failure.template.displayName} could not be launched`}</AlertTitle>
          {isQuotaError(failure.error) ? quotaMessage(failure.error) : errorMessage(failure.error)}
        </Alert>
      )}
      <ResourceView
        resource={templates}
        errorTitle="The catalog could not be loaded"
        loading={<CardGridSkeleton count={8} height={190} />}
        empty={
          <EmptyState
            icon={<AppsIcon />}
            title="The catalog is empty"
            description="No templates are installed yet. Templates come from the platform's Git repository (catalog/); once the agent syncs them they appear here."
          />
        }
      >
        {() => (
          <>
            <CatalogFilters filter={filter} tags={tags} onChange={setFilter} />
            {groups.length === 0 ? (
              <EmptyState
                icon={<SearchOffIcon />}
                title="No app matches"
                description="Try other words, or fewer tags."
                action={<Button onClick={() => setFilter({ query: '', tags: [] })}>Clear filters</Button>}
              />
            ) : (
              groups.map((g) => (
                <Box component="section" key={g.category} aria-labelledby={categoryId(g.category)} sx={{ mb: 4 }}>
                  <Typography variant="h2" id={categoryId(g.category)} sx={{ mb: 1.5 }}>
                    {g.category}{' '}
                    <Typography component="span" color="textSecondary" sx={{ fontWeight: 400 }}>
                      ({g.templates.length})
                    </Typography>
                  </Typography>
                  <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fill, minmax(260px, 1fr))' }}>
                    {g.templates.map((t) => (
                      <TemplateCard
                        key={t.name}
                        template={t}
                        launching={launching === t.name}
                        disabled={launching !== undefined}
                        onLaunch={launch}
                        onTagClick={(tag) => !filter.tags.includes(tag) && setFilter({ ...filter, tags: [...filter.tags, tag] })}
                      />
                    ))}
                  </Box>
                </Box>
              ))
            )}
          </>
        )}
      </ResourceView>
    </>
  );
}

const categoryId = (category: string) => 'category-' + category.toLowerCase().replace(/[^a-z0-9]+/g, '-');
