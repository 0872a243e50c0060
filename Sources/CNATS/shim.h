#ifndef CLUSTERMON_CNATS_SHIM_H
#define CLUSTERMON_CNATS_SHIM_H
// <nats.h> is a deprecated forwarder that warns; the real header lives under nats/.
#include <nats/nats.h>
#endif
