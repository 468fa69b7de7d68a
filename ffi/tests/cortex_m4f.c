/*
 * tests/cortex_m4f.c: the platform layer that runs tests/host.c (and the
 * size and panic probes, tests/probe.c) on a bare-metal Cortex-M under QEMU.
 *
 * It supplies what a hosted C runtime would: the vector table (initial stack
 * pointer, reset and fault handlers), the FPU enable that hard-float code
 * needs before its first floating-point instruction, .data and .bss
 * initialisation, newlib's semihosting stdio (librdimon), and the exit code:
 * main's return value goes to QEMU through the semihosting call
 * SYS_EXIT_EXTENDED, so `qemu-system-arm ... -semihosting` exits with it
 * (0 pass, 1 a failed check, 2 a fault).
 *
 * Memory map: the firmware crates' own (firmware/memory/mps2-an386.x for the
 * Cortex-M4F, microbit.x for the Cortex-M0), placed by tests/cortex_m.ld.
 *
 * -DLK_PROBE builds the bare version for the probes: no stdio, no
 * semihosting, main's result ignored, so a size difference between two
 * probes is the library code alone.
 */
#include <stdint.h>
#include <string.h>

#ifndef LK_PROBE
#include <stdio.h>
extern void initialise_monitor_handles(void); /* librdimon */
#endif

extern int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

/* From tests/cortex_m.ld. */
extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;

#ifndef LK_PROBE
/* Semihosting SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit: QEMU
 * exits with `code`. (Plain SYS_EXIT on A32/T32 cannot carry a code.) */
static void __attribute__((noreturn)) semihosting_exit(int code) {
    uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}
#endif

void Reset_Handler(void) {
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU), before any FP instruction. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
#ifdef LK_PROBE
    (void)main();
    for (;;) {
    }
#else
    initialise_monitor_handles();
    int code = main();
    fflush(stdout);
    semihosting_exit(code);
#endif
}

void Fault_Handler(void) {
#ifndef LK_PROBE
    printf("FAULT: a HardFault, MemManage, BusFault or UsageFault was taken\n");
    fflush(stdout);
    semihosting_exit(2);
#else
    for (;;) {
    }
#endif
}

/* The vector table: initial SP, reset, then every fault to Fault_Handler. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    0, 0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};
