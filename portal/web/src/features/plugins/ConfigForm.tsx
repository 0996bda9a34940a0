import Form from '@rjsf/mui';
import type { RJSFSchema } from '@rjsf/utils';
import type { ReactNode } from 'react';
import { schemaValidator } from './schemaValidator';

interface Props {
  /** The plugin's JSON Schema (from its manifest). */
  schema: Record<string, unknown>;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  onSubmit: (value: Record<string, unknown>) => void;
  disabled?: boolean;
  /** The submit button(s). */
  children: ReactNode;
}

/** A plugin's configuration form, generated from its JSON Schema (react-jsonschema-form, MUI theme). */
export function ConfigForm({ schema, value, onChange, onSubmit, disabled, children }: Props) {
  return (
    <Form
      schema={schema as RJSFSchema}
      formData={value}
      validator={schemaValidator}
      disabled={disabled}
      showErrorList={false}
      noHtml5Validate
      onChange={(e) => onChange((e.formData ?? {}) as Record<string, unknown>)}
      onSubmit={(e) => onSubmit((e.formData ?? {}) as Record<string, unknown>)}
    >
      {children}
    </Form>
  );
}
