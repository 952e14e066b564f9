// ipctl mount: devipd's /net as a Linux file system through FUSE (control/fuse.cc).
#pragma once
#include <string>

#include "control/client.h"

namespace devip::ctl {

// Serves c's tree (already attached) on mountpoint until it is unmounted or mount_stop().
// options are FUSE mount options ("allow_other,..."), debug turns on FUSE's trace.
// Returns the exit status; errors are printed.
int mount_net(Client& c, const std::string& mountpoint, const std::string& options, bool debug);

// Ends mount_net's loop and unmounts (from ipctl's signal thread).
void mount_stop();

}  // namespace devip::ctl
