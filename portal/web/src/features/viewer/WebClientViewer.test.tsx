import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { WebClientViewer } from './WebClientViewer';

describe('WebClientViewer', () => {
  it('frames the web client sandboxed: no top navigation, no popups; downloads only when the policy allows them', () => {
    const { rerender } = render(
      <WebClientViewer src="https://s1.apps.example.com/" title="s1" allowPaste allowCopy allowDownloads={false} />,
    );
    const frame = () => screen.getByTitle('s1');
    expect(frame().getAttribute('sandbox')).toBe('allow-scripts allow-same-origin allow-forms allow-pointer-lock allow-modals');
    rerender(<WebClientViewer src="https://s1.apps.example.com/" title="s1" allowPaste allowCopy allowDownloads />);
    expect(frame().getAttribute('sandbox')).toContain('allow-downloads');
    expect(frame().getAttribute('sandbox')).not.toMatch(/allow-top-navigation|allow-popups/);
  });
});
