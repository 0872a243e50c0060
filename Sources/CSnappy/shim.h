// Snappy block compression (Debian libsnappy-dev): the body format of Prometheus remote write.
#include <snappy-c.h>
