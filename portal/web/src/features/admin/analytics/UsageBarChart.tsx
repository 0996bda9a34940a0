import { BarChart } from '@mui/x-charts/BarChart';
import Typography from '@mui/material/Typography';
import type { Usage } from '../../../api/models';
import { ChartCard } from './ChartCard';

interface Props {
  title: string;
  usage: Usage[];
  /** Show the top ones only. */
  limit?: number;
}

/** Sessions and active hours per template or per user, the busiest first. */
export function UsageBarChart({ title, usage, limit = 10 }: Props) {
  const top = [...usage].sort((a, b) => b.activeHours - a.activeHours || b.sessions - a.sessions).slice(0, limit);
  return (
    <ChartCard title={title} subtitle={usage.length > limit ? `Top ${limit} of ${usage.length} by active hours` : 'By active hours'}>
      {top.length === 0 ? (
        <Typography color="textSecondary" sx={{ py: 6, textAlign: 'center' }}>
          No sessions in this period.
        </Typography>
      ) : (
        <BarChart
          height={Math.max(200, 48 + top.length * 34)}
          layout="horizontal"
          yAxis={[{ data: top.map((u) => u.name), scaleType: 'band', width: 120 }]}
          series={[
            { data: top.map((u) => Math.round(u.activeHours * 10) / 10), label: 'Active hours' },
            { data: top.map((u) => u.sessions), label: 'Sessions' },
          ]}
          grid={{ vertical: true }}
        />
      )}
    </ChartCard>
  );
}
