/* relay_b — the relay built as a second executable that marks records 'B',
 * so the swap test can see which records went through the swapped-in stage. */
#define RELAY_DEFAULT_MARK 'B'
#include "relay.c"
