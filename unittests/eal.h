#pragma once
namespace devip::test {
bool eal();  // starts EAL once (no hugepages, no PCI); false if it cannot
}
