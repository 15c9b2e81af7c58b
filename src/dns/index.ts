// Public surface of the DNS capability (R1 R4): the firewall's data plane and its node
// parts, the warning page, block events. The codec (wire/) and the policy engine
// (policy/) have their own surfaces; other capabilities import only this file.
export { DnsFirewall, purposeOfKind, OBSERVATIONS_TOPIC, DETECTION_ZONE, type DnsFirewallOptions, type DnsFirewallDeps } from './server/firewall.ts';
export { DataPlane, type BlockEvent, type ListenSpec, type DataPlaneOptions } from './server/data-plane.ts';
export { FileZoneSource, PrimaryZoneSource, zoneSource, zoneSpecFromPrimary, ZoneSet, zoneSpecFromFile, ZONE_KINDS, type ZoneKind, type ZoneSpec, type ZoneSource, type ZoneTarget, type ZoneSourceStatus } from './server/zones.ts';
export { parseSince } from './server/firewall.ts';
export { BlockEventLog, dnsMigrations, dnsRetentionRules, type BlockEventRecord, type BlockEventQuery } from './server/events.ts';
export { DetectionLog, listDetections, detectionRoutes, registerDetectionMetrics, isDetectionKind, DETECTION_KINDS, type DetectionRecord, type DetectionListQuery } from './server/detections.ts';
export { type StatsSnapshot, type UpstreamStats } from './server/stats.ts';
export { WarningPage } from './warning-page/server.ts';
export { warningPageHtml, type WarningPageText } from './warning-page/page.ts';
export { dnsParts, resolveUpstreams, loopbackResolver, firewallOptions, detectOptions, hostPort, type DnsConfig, type DnsPartsDeps } from './server/node-parts.ts';
