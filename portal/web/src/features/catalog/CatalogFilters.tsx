import SearchIcon from '@mui/icons-material/Search';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import InputAdornment from '@mui/material/InputAdornment';
import TextField from '@mui/material/TextField';
import { useState } from 'react';
import type { CatalogFilter } from './filterTemplates';

interface Props {
  filter: CatalogFilter;
  /** Tags to offer, the most used first. */
  tags: string[];
  onChange: (filter: CatalogFilter) => void;
}

const FEW_TAGS = 16;

/** The catalog's search box and tag chips. */
export function CatalogFilters({ filter, tags, onChange }: Props) {
  const [allTags, setAllTags] = useState(false);
  // selected tags stay visible even when they are not among the first few
  const offered = allTags ? tags : [...new Set([...filter.tags, ...tags.slice(0, FEW_TAGS)])];
  const toggle = (tag: string) =>
    onChange({ ...filter, tags: filter.tags.includes(tag) ? filter.tags.filter((t) => t !== tag) : [...filter.tags, tag] });

  return (
    <Box sx={{ mb: 3 }}>
      <TextField
        type="search"
        placeholder="Search apps by name, description or tag"
        value={filter.query}
        onChange={(e) => onChange({ ...filter, query: e.target.value })}
        fullWidth
        size="small"
        slotProps={{
          htmlInput: { 'aria-label': 'Search apps' },
          input: {
            startAdornment: (
              <InputAdornment position="start">
                <SearchIcon />
              </InputAdornment>
            ),
          },
        }}
        sx={{ mb: 1.5, maxWidth: 560 }}
      />
      {tags.length > 0 && (
        <Box role="group" aria-label="Filter by tag" sx={{ display: 'flex', gap: 0.75, flexWrap: 'wrap', alignItems: 'center' }}>
          {offered.map((tag) => {
            const selected = filter.tags.includes(tag);
            return (
              <Chip
                key={tag}
                label={tag}
                size="small"
                color={selected ? 'primary' : 'default'}
                variant={selected ? 'filled' : 'outlined'}
                onClick={() => toggle(tag)}
                aria-pressed={selected}
              />
            );
          })}
          {tags.length > FEW_TAGS && (
            <Button size="small" onClick={() => setAllTags((v) => !v)}>
              {allTags ? 'Fewer tags' : `All ${tags.length} tags`}
            </Button>
          )}
          {(filter.tags.length > 0 || filter.query) && (
            <Button size="small" onClick={() => onChange({ query: '', tags: [] })}>
              Clear filters
            </Button>
          )}
        </Box>
      )}
    </Box>
  );
}
