import Box from '@mui/material/Box';
import Skeleton from '@mui/material/Skeleton';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import { useState } from 'react';
import { getAnalytics } from '../../../api/admin';
import { PageHeader } from '../../../components/PageHeader';
import { ResourceView } from '../../../components/ResourceView';
import { useResource } from '../../../hooks/useResource';
import { formatDateTime } from '../../../lib/time';
import { SavingsCards } from './SavingsCards';
import { SessionsOverTimeChart } from './SessionsOverTimeChart';
import { UsageBarChart } from './UsageBarChart';

const periods = [7, 30, 90, 365];

export default function AnalyticsPage() {
  const [days, setDays] = useState(30);
  const analytics = useResource((signal) => getAnalytics(days, signal), [days]);

  return (
    <>
      <PageHeader
        title="Analytics"
        subtitle={analytics.data ? `Since ${formatDateTime(analytics.data.since)}` : 'Usage of the platform'}
        actions={
          <ToggleButtonGroup size="small" exclusive value={days} onChange={(_, v: number | null) => v && setDays(v)} aria-label="Period">
            {periods.map((d) => (
              <ToggleButton key={d} value={d} aria-label={`Last ${d} days`}>
                {d === 365 ? '1 year' : `${d} days`}
              </ToggleButton>
            ))}
          </ToggleButtonGroup>
        }
      />
      <ResourceView resource={analytics} errorTitle="Analytics could not be loaded" loading={<AnalyticsSkeleton />}>
        {(data) => (
          <>
            <SavingsCards hibernation={data.hibernation} />
            <Box sx={{ display: 'grid', gap: 2 }}>
              <SessionsOverTimeChart days={data.days} />
              <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: '1fr', lg: '1fr 1fr' } }}>
                <UsageBarChart title="Per template" usage={data.templates} />
                <UsageBarChart title="Per user" usage={data.users} />
              </Box>
            </Box>
          </>
        )}
      </ResourceView>
    </>
  );
}

/** The savings cards and a chart, loading. */
function AnalyticsSkeleton() {
  return (
    <Box role="status" aria-label="Loading">
      <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fit, minmax(200px, 1fr))', mb: 3 }}>
        {periods.map((p) => (
          <Skeleton key={p} variant="rounded" height={112} />
        ))}
      </Box>
      <Skeleton variant="rounded" height={360} />
    </Box>
  );
}
