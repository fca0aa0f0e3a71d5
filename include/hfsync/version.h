#ifndef HFSYNC_VERSION_H
#define HFSYNC_VERSION_H

#ifndef HFSYNC_VERSION
#define HFSYNC_VERSION "0.1.0"
#endif

#endif
