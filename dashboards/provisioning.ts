import { EXEMPLAR_LABEL } from '../contract/index.js';
/**
 * Grafana file-provisioning documents for datasources and dashboards. The Prometheus
 * datasource links exemplar trace ids (label `trace_id`, as the collector writes them)
 * to the Tempo datasource.
 */
import type { ResolvedOptions } from './options.js';

/** Exemplar label that carries the trace id (what the collector attaches to the duration histogram). */
export const EXEMPLAR_TRACE_ID_LABEL = EXEMPLAR_LABEL.TRACE_ID;

/** `provisioning/datasources/*.yaml`: Prometheus (default) and Tempo. */
export function datasourcesFile(o: ResolvedOptions): Record<string, unknown> {
  return {
    apiVersion: 1,
    datasources: [
      {
        name: 'Prometheus',
        uid: o.prometheusDatasourceUid,
        type: 'prometheus',
        access: 'proxy',
        url: o.prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: {
          httpMethod: 'POST',
          exemplarTraceIdDestinations: [{ name: EXEMPLAR_TRACE_ID_LABEL, datasourceUid: o.tempoDatasourceUid }],
        },
      },
      {
        name: 'Tempo',
        uid: o.tempoDatasourceUid,
        type: 'tempo',
        access: 'proxy',
        url: o.tempoUrl,
        isDefault: false,
        editable: false,
      },
    ],
  };
}

/** `provisioning/dashboards/*.yaml`: load the dashboard JSON from `dashboardsPath` into `folder`. */
export function dashboardProviderFile(o: ResolvedOptions): Record<string, unknown> {
  return {
    apiVersion: 1,
    providers: [
      {
        name: 'mcplens',
        orgId: 1,
        folder: o.folder,
        type: 'file',
        disableDeletion: false,
        allowUiUpdates: false,
        updateIntervalSeconds: 30,
        options: { path: o.dashboardsPath, foldersFromFilesStructure: false },
      },
    ],
  };
}
