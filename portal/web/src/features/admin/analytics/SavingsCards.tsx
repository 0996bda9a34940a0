import Box from '@mui/material/Box';
import Card from '@mui/material/Card';
import CardContent from '@mui/material/CardContent';
import Typography from '@mui/material/Typography';
import type { Analytics } from '../../../api/models';
import { formatNumber } from '../../../lib/number';

/** What hibernation saved: the sessions kept asleep and the resources they did not hold. */
export function SavingsCards({ hibernation }: { hibernation: Analytics['hibernation'] }) {
  const cards = [
    { label: 'Hibernations', value: formatNumber(hibernation.hibernations), hint: 'Idle sessions put to sleep' },
    { label: 'Hours asleep', value: formatNumber(hibernation.hibernatedHours), hint: 'Sessions kept, using nothing' },
    { label: 'Memory saved', value: `${formatNumber(hibernation.memoryGiBHours)} GiB·h`, hint: 'Reserved memory not held' },
    { label: 'CPU saved', value: `${formatNumber(hibernation.cpuCoreHours)} core·h`, hint: 'Reserved CPU not held' },
  ];
  return (
    <Box
      component="section"
      aria-label="Hibernation savings"
      sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fit, minmax(200px, 1fr))', mb: 3 }}
    >
      {cards.map((c) => (
        <Card key={c.label}>
          <CardContent>
            <Typography variant="body2" color="textSecondary">
              {c.label}
            </Typography>
            <Typography sx={{ fontSize: '1.75rem', fontWeight: 600, my: 0.5 }}>{c.value}</Typography>
            <Typography variant="caption" color="textSecondary">
              {c.hint}
            </Typography>
          </CardContent>
        </Card>
      ))}
    </Box>
  );
}
