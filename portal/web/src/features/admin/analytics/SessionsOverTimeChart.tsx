import { LineChart } from '@mui/x-charts/LineChart';
import type { DayUsage } from '../../../api/models';
import { formatMonthDay } from '../../../lib/time';
import { ChartCard } from './ChartCard';

export function SessionsOverTimeChart({ days }: { days: DayUsage[] }) {
  return (
    <ChartCard title="Sessions over time" subtitle="Per day (UTC): sessions started, sessions running at some point, people using them">
      <LineChart
        height={300}
        xAxis={[{ data: days.map((d) => d.date), scaleType: 'point', valueFormatter: formatMonthDay }]}
        yAxis={[{ tickMinStep: 1 }]}
        series={[
          { data: days.map((d) => d.sessions), label: 'Running', area: true, showMark: false, curve: 'monotoneX' },
          { data: days.map((d) => d.started), label: 'Started', showMark: false, curve: 'monotoneX' },
          { data: days.map((d) => d.users), label: 'Users', showMark: false, curve: 'monotoneX' },
        ]}
        grid={{ horizontal: true }}
      />
    </ChartCard>
  );
}
