import MemoryIcon from '@mui/icons-material/Memory';
import RocketLaunchIcon from '@mui/icons-material/RocketLaunchOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Card from '@mui/material/Card';
import CardActions from '@mui/material/CardActions';
import CardContent from '@mui/material/CardContent';
import Chip from '@mui/material/Chip';
import Typography from '@mui/material/Typography';
import type { Template } from '../../api/models';
import { TemplateIcon } from '../../components/TemplateIcon';

interface Props {
  template: Template;
  launching: boolean;
  /** Another launch is under way: this one waits. */
  disabled: boolean;
  onLaunch: (template: Template) => void;
  onTagClick: (tag: string) => void;
}

export function resourcesLabel(resources: Template['resources']): string | undefined {
  if (!resources || (!resources.memory && !resources.cpu)) return undefined;
  const parts = [];
  if (resources.memory) parts.push(`${resources.memory} memory`);
  if (resources.cpu) parts.push(`${resources.cpu} CPU`);
  return parts.join(' · ');
}

export function TemplateCard({ template, launching, disabled, onLaunch, onTagClick }: Props) {
  const resources = resourcesLabel(template.resources);
  return (
    <Card
      component="article"
      aria-label={template.displayName}
      data-testid={`template-card-${template.name}`}
      sx={{ display: 'flex', flexDirection: 'column' }}
    >
      <CardContent sx={{ flex: 1, pb: 1 }}>
        <Box sx={{ display: 'flex', gap: 1.5, alignItems: 'center', mb: 1.5 }}>
          <TemplateIcon name={template.displayName} icon={template.icon} size={44} />
          <Box sx={{ minWidth: 0 }}>
            <Typography variant="h3" component="h3" noWrap>
              {template.displayName}
            </Typography>
            {resources && (
              <Typography variant="caption" color="textSecondary" sx={{ display: 'flex', alignItems: 'center', gap: 0.5 }}>
                <MemoryIcon sx={{ fontSize: 14 }} aria-hidden />
                {resources}
              </Typography>
            )}
          </Box>
        </Box>
        {template.description && (
          <Typography
            variant="body2"
            color="textSecondary"
            sx={{ display: '-webkit-box', WebkitLineClamp: 3, WebkitBoxOrient: 'vertical', overflow: 'hidden', mb: 1.5 }}
            title={template.description}
          >
            {template.description}
          </Typography>
        )}
        {(template.tags ?? []).length > 0 && (
          <Box sx={{ display: 'flex', gap: 0.5, flexWrap: 'wrap' }}>
            {template.tags!.slice(0, 5).map((tag) => (
              <Chip
                key={tag}
                label={tag}
                size="small"
                variant="outlined"
                onClick={() => onTagClick(tag)}
                aria-label={`Filter by tag ${tag}`}
              />
            ))}
          </Box>
        )}
      </CardContent>
      <CardActions sx={{ px: 2, pb: 2 }}>
        <Button
          variant="contained"
          startIcon={<RocketLaunchIcon />}
          onClick={() => onLaunch(template)}
          loading={launching}
          loadingPosition="start"
          disabled={disabled && !launching}
          aria-label={`Launch ${template.displayName}`}
        >
          Launch
        </Button>
      </CardActions>
    </Card>
  );
}
